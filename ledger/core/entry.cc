#include "ledger/core/entry.h"

#include <capnp/dynamic.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstring>

namespace ledger {
namespace {

std::string WordsToString(kj::ArrayPtr<const capnp::word> words) {
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

capnp::Data::Reader AsData(const Hash& h) {
  return capnp::Data::Reader(h.data(), h.size());
}

}  // namespace

std::string EncodeEntry(const EntryLinks& links, schema::Event::Reader event, std::span<const Finding> findings,
                        std::string_view submitted_by) {
  // Sized for the entry (its first segment is zeroed): the event, the links and a little for findings.
  constexpr uint64_t kLinksWords = 16, kFindingWords = 16;
  const uint64_t words =
      event.totalSize().wordCount + kLinksWords + kFindingWords * findings.size() + submitted_by.size() / 8 + 1;
  capnp::MallocMessageBuilder message(static_cast<unsigned>(std::min<uint64_t>(words, 1u << 16)));
  auto entry = message.initRoot<schema::Entry>();
  entry.setSeq(links.seq);
  entry.setRecordedAtUs(links.recorded_at_us);
  entry.setPrevHash(AsData(links.prev_hash));
  entry.setHouseholdPrevSeq(links.household_prev_seq);
  entry.setHouseholdPrevHash(AsData(links.household_prev_hash));
  entry.setEvent(event);
  if (!findings.empty()) {
    auto list = entry.initFindings(static_cast<unsigned>(findings.size()));
    for (size_t i = 0; i < findings.size(); ++i) {
      list[i].setRule(findings[i].rule);
      list[i].setMessage(findings[i].message);
      auto ids = list[i].initEventIds(static_cast<unsigned>(findings[i].event_ids.size()));
      for (size_t k = 0; k < findings[i].event_ids.size(); ++k)
        ids.set(static_cast<unsigned>(k), findings[i].event_ids[k]);
    }
  }
  // Set only when given: an empty text would be a pointer, and change the bytes of every entry.
  if (!submitted_by.empty()) {
    memcpy(entry.initSubmittedBy(static_cast<unsigned>(submitted_by.size())).begin(), submitted_by.data(),
           submitted_by.size());
  }
  return WordsToString(capnp::canonicalize(entry.asReader()));
}

std::string CanonicalEvent(schema::Event::Reader event) {
  return WordsToString(capnp::canonicalize(event));
}

Status EntryReader::Init(std::string_view bytes) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return Status::Corruption("entry is not a whole number of 8-byte words");
  }
  words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words_.begin(), bytes.data(), bytes.size());
  auto maybe_error = kj::runCatchingExceptions([&] {
    kj::ArrayPtr<const capnp::word> segments[1] = {words_.asPtr()};
    message_ = kj::heap<capnp::SegmentArrayMessageReader>(kj::arrayPtr(segments, 1));
    if (!message_->isCanonical()) KJ_FAIL_REQUIRE("not canonical");
    entry_ = message_->getRoot<schema::Entry>();
  });
  KJ_IF_MAYBE (e, maybe_error) {
    return Status::Corruption(std::string("entry bytes are not a canonical entry: ") + e->getDescription().cStr());
  }
  return Status::Ok();
}

Status EntryDecodeError(const kj::Exception& e) {
  // The description may hold the byte Cap'n Proto expected, a NUL: printable bytes only.
  kj::StringPtr description = e.getDescription();
  std::string text;
  for (char c : description) text += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  return Status::Corruption("the entry does not read: " + text.substr(0, 200));
}

std::string KindName(schema::Event::Reader event) {
  capnp::DynamicStruct::Reader dynamic = event;
  KJ_IF_MAYBE (active, dynamic.which()) {
    return active->getProto().getName();
  }
  return "";
}

std::vector<std::string> ActorIdsOf(schema::Event::Reader event) {
  std::vector<std::string> ids = {event.getActorId()};
  capnp::DynamicStruct::Reader dynamic = event;
  KJ_IF_MAYBE (kind_field, dynamic.which()) {
    if (kind_field->getType().isStruct()) {
      auto kind = dynamic.get(*kind_field).as<capnp::DynamicStruct>();
      for (auto f : kind.getSchema().getFields()) {
        std::string_view name = f.getProto().getName().cStr();
        bool actor = name.size() > 7 && name.substr(name.size() - 7) == "ActorId" && f.getType().isText();
        if (actor && kind.has(f)) ids.emplace_back(kind.get(f).as<capnp::Text>().cStr());
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace ledger
