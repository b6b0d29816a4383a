#include "ledger/domain/json.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <set>

#include "ledger/util/formats.h"
#include "ledger/domain/validate.h"

namespace ledger {
namespace {

const capnp::JsonCodec& Codec() {
  static const capnp::JsonCodec* codec = [] {
    auto* c = new capnp::JsonCodec();
    c->setMaxNestingDepth(kMaxJsonDepth);
    c->setRejectUnknownFields(true);
    // $Json.name (programme names) and $Json.hex (hashes) apply only to types registered here.
    c->handleByAnnotation<schema::Event>();
    c->handleByAnnotation<schema::EntryView>();
    return c;
  }();
  return *codec;
}

}  // namespace

std::optional<uint16_t> ParseProgramme(std::string_view name) {
  for (auto e : capnp::Schema::from<schema::Programme>().getEnumerants()) {
    if (JsonEnumerantName(e) == name && e.getOrdinal() != 0) return static_cast<uint16_t>(e.getOrdinal());
  }
  return std::nullopt;
}

std::string ProgrammeName(uint16_t programme) {
  auto enumerants = capnp::Schema::from<schema::Programme>().getEnumerants();
  return programme < enumerants.size() ? JsonEnumerantName(enumerants[programme]) : std::to_string(programme);
}

std::string EntryToJson(schema::Entry::Reader entry, const Hash& hash) {
  capnp::MallocMessageBuilder message;
  auto view = message.initRoot<schema::EntryView>();
  view.setHash(capnp::Data::Reader(hash.data(), hash.size()));
  view.setRecordedAt(FormatTimestampUs(entry.getRecordedAtUs()));
  view.setKind(KindName(entry.getEvent()));
  view.setEntry(entry);
  return Codec().encode(view.asReader()).cStr();
}

std::string EventToJson(schema::Event::Reader event) {
  return Codec().encode(event).cStr();
}

}  // namespace ledger
