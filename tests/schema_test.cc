// The event schema: every kind round-trips JSON -> Cap'n Proto -> store -> JSON, and entries
// encoded by earlier versions of the schema still read and hash the same (evolution rule,
// ledger/schema/event.capnp).
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "ledger/entry.h"
#include "ledger/json.h"
#include "ledger/validate.h"
#include "tests/test_util.h"

using namespace ledger;

namespace {

std::string CanonicalBytes(schema::Event::Reader e) {
  return CanonicalEvent(e);
}

std::string CanonicalEntry(schema::Entry::Reader e) {
  auto words = capnp::canonicalize(e);
  auto b = words.asBytes();
  return std::string(reinterpret_cast<const char*>(b.begin()), b.size());
}

// Every full number ("number" fields) that appears in the JSON input lines.
std::vector<std::string> FullNumbersIn(const std::vector<std::string>& lines) {
  std::vector<std::string> numbers;
  for (const auto& line : lines) {
    for (size_t at = 0; (at = line.find("\"number\":\"", at)) != std::string::npos;) {
      at += 10;
      numbers.push_back(line.substr(at, line.find('"', at) - at));
    }
  }
  return numbers;
}

// Decodes ledgerctl's entry JSON with an independent codec.
void DecodeEntryView(const std::string& json, capnp::MallocMessageBuilder* out) {
  capnp::JsonCodec codec;
  codec.handleByAnnotation<schema::EntryView>();
  codec.decode(kj::arrayPtr(json.data(), json.size()), out->initRoot<schema::EntryView>());
}

}  // namespace

TEST_CASE("the sample file has an example of every event kind") {
  std::set<std::string> kinds_in_file;
  for (const auto& line : testing::ReadDataLines("every_kind.jsonl")) {
    capnp::MallocMessageBuilder m;
    Status s = ParseEventJson(line, &m);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    kinds_in_file.insert(KindName(m.getRoot<schema::Event>().asReader()));
  }
  for (auto field : capnp::Schema::from<schema::Event>().getUnionFields()) {
    CHECK_MESSAGE(kinds_in_file.count(field.getProto().getName()) == 1, "no example of ",
                  field.getProto().getName().cStr());
  }
}

TEST_CASE("every kind round-trips JSON -> Cap'n Proto -> store -> JSON") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  auto full_numbers = FullNumbersIn(lines);
  REQUIRE(full_numbers.size() >= 5);
  for (const auto& line : lines) {
    CAPTURE(line);
    capnp::MallocMessageBuilder input;
    REQUIRE(ParseEventJson(line, &input).ok());
    std::vector<capnp::MessageBuilder*> group = {&input};
    std::vector<AppendResult> results;
    REQUIRE(l->AppendGroup(group, &results).ok());
    REQUIRE(results[0].outcome == AppendResult::Outcome::kCreated);

    // Stored: exactly the input event (numbers protected in place by the append).
    std::string bytes;
    REQUIRE(l->ReadEntry(results[0].seq, &bytes).ok());
    EntryReader stored;
    REQUIRE(stored.Init(bytes).ok());
    auto input_event = input.getRoot<schema::Event>().asReader();
    CHECK(CanonicalBytes(stored.entry().getEvent()) == CanonicalBytes(input_event));
    CHECK(LeafHash(AsBytes(bytes)) == results[0].hash);

    // Out as JSON and back: the same entry bytes and hash.
    std::string json = EntryToJson(stored.entry(), results[0].hash);
    capnp::MallocMessageBuilder view;
    DecodeEntryView(json, &view);
    auto v = view.getRoot<schema::EntryView>().asReader();
    CHECK(CanonicalEntry(v.getEntry()) == bytes);
    CHECK(std::string(v.getKind()) == KindName(input_event));
    CHECK(v.getHash() == capnp::Data::Reader(results[0].hash.data(), 32));
    for (const auto& number : full_numbers) CHECK_MESSAGE(json.find(number) == std::string::npos, number);

    // The event's own JSON parses back to the same event.
    capnp::MallocMessageBuilder again;
    REQUIRE(ParseEventJson(EventToJson(stored.entry().getEvent()), &again).ok());
    CHECK(CanonicalBytes(again.getRoot<schema::Event>().asReader()) == CanonicalBytes(stored.entry().getEvent()));
  }
}

// tests/data/entries_v1.txt: entries as stored by schema version 1 (the first released schema),
// one per line: hex entry hash, kind name, hex canonical bytes. Written once with
// LEDGER_WRITE_FIXTURES=1 and committed; never regenerated for a later schema, because the point
// is that bytes written then still read now.
TEST_CASE("entries written by earlier schema versions still read and hash the same") {
  const std::string path = std::string(TEST_DATA_DIR) + "/entries_v1.txt";
  if (getenv("LEDGER_WRITE_FIXTURES") != nullptr) {
    testing::TempDir dir;
    auto l = testing::NewLedger(dir.Sub("l"));
    testing::AppendLines(l.get(), testing::ReadDataLines("every_kind.jsonl"));
    std::ofstream out(path);
    for (uint64_t seq = 1; seq <= l->head().seq; ++seq) {
      std::string bytes;
      REQUIRE(l->ReadEntry(seq, &bytes).ok());
      EntryReader r;
      REQUIRE(r.Init(bytes).ok());
      out << Hex(LeafHash(AsBytes(bytes))) << ' ' << KindName(r.entry().getEvent()) << ' ' << Hex(AsBytes(bytes))
          << '\n';
    }
  }
  auto lines = testing::ReadDataLines("entries_v1.txt");
  REQUIRE(lines.size() == 29);
  Hash prev{};
  for (const auto& line : lines) {
    std::istringstream fields(line);
    std::string hash_hex, kind, bytes_hex;
    fields >> hash_hex >> kind >> bytes_hex;
    std::string bytes;
    for (size_t i = 0; i + 1 < bytes_hex.size(); i += 2) {
      bytes.push_back(static_cast<char>(std::stoi(bytes_hex.substr(i, 2), nullptr, 16)));
    }
    CHECK(Hex(LeafHash(AsBytes(bytes))) == hash_hex);
    EntryReader r;
    REQUIRE(r.Init(bytes).ok());
    CHECK(KindName(r.entry().getEvent()) == kind);
    CHECK(ValidateEvent(r.entry().getEvent()).ok());
    CHECK(r.entry().getPrevHash() == capnp::Data::Reader(prev.data(), prev.size()));
    CHECK(ParseHexHash(hash_hex, &prev));
  }
}
