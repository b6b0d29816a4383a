// The event schema: every kind round-trips JSON -> Cap'n Proto -> store -> JSON, and entries
// encoded by earlier versions of the schema still read and hash the same (evolution rule,
// include/benefit_ledger/event.capnp).
#include <capnp/any.h>
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <vector>

#include "ledger/core/entry.h"
#include "ledger/core/genesis.h"
#include "ledger/domain/json.h"
#include "ledger/domain/validate.h"
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
    // The ledger's own kinds are never appended (genesis_test.cc shows them written and read).
    auto kind = static_cast<schema::Event::Which>(field.getProto().getDiscriminantValue());
    if (IsLedgerOwnKind(kind)) continue;
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

namespace {

// An approval as the ledger stores it; the cases below change one or two things of it.
void FillApproval(schema::Event::Builder e) {
  e.setEventId("e1");
  e.setHouseholdId("H1");
  e.setRegionCode("341502001001");
  e.setActorId("cw1");
  e.setBusinessDate(20240301);
  auto a = e.initApproval();
  a.setCaseId("C1");
  a.setProgramme(schema::Programme::URBAN_DIBAO);
  a.setMonthlyAmountFen(75000);
  a.setMembersCovered(2);
  a.setFirstPeriod(202404);
  a.setReviewDueDate(20250301);
}

// A person as the ledger stores them: masked and keyed-hashed, no number.
void Protect(schema::PersonId::Builder p) {
  p.setMasked("341502********1236");
  p.initKeyedHash(32);
}

schema::HouseholdRegistered::Builder RegisterTwo(schema::Event::Builder e) {
  auto h = e.initHouseholdRegistered();
  auto members = h.initMembers(2);
  for (auto m : members) {
    Protect(m.initPerson());
    m.setName("x");
    m.setBirthDate(19520314);
  }
  return h;
}

struct ValidateCase {
  const char* name;
  std::function<void(schema::Event::Builder)> change;
  const char* expected;  // Status::ToString()
};

}  // namespace

// The rules of validate.h by field name and type, at every depth, with the path of the field and
// the first problem found (envelope before kind, fields outside the union before it).
TEST_CASE("ValidateEvent names the first problem and its field path, at any depth") {
  using E = schema::Event::Builder;
  const std::vector<ValidateCase> cases = {
      {"a good approval", [](E) {}, "ok"},
      {"a kind set to nothing",
       [](E e) {
         e.initHouseholdRegistered();
         e.disownHouseholdRegistered();
       },
       "no event kind given"},
      {"a kind this version does not know",
       [](E e) {
         auto data = capnp::AnyStruct::Builder(kj::mv(e)).getDataSection();
         auto offset = capnp::Schema::from<schema::Event>().getProto().getStruct().getDiscriminantOffset();
         data[offset * 2] = 200;
       },
       "no event kind given (or one this version does not know)"},
      {"household scope before the structure",
       [](E e) {
         e.setHouseholdId("");
         e.setEventId("");
       },
       "householdId: required for approval"},
      {"envelope before kind",
       [](E e) {
         e.setBusinessDate(20240230);
         e.getApproval().setCaseId("");
       },
       "businessDate: 20240230 is not a date (YYYYMMDD)"},
      {"actorSignature (after the union in the schema) before the kind",
       [](E e) {
         e.initActorSignature(10);
         e.getApproval().setCaseId("");
       },
       "actorSignature: 10 bytes; an Ed25519 signature is 64"},
      {"a 64-byte signature", [](E e) { e.initActorSignature(64); }, "ok"},
      {"an id", [](E e) { e.setActorId("cw 1"); }, "actorId: not an identifier (1 to 128 of A-Z a-z 0-9 . _ : / -)"},
      {"a kind's id", [](E e) { e.getApproval().setCaseId(""); }, "approval.caseId: required"},
      {"enum unspecified", [](E e) { e.getApproval().setProgramme(schema::Programme::UNSPECIFIED); },
       "approval.programme: required"},
      {"enum unknown", [](E e) { e.getApproval().setProgramme(static_cast<schema::Programme>(99)); },
       "approval.programme: unknown value 99"},
      {"period", [](E e) { e.getApproval().setFirstPeriod(202413); },
       "approval.firstPeriod: 202413 is not a month (YYYYMM)"},
      {"period required", [](E e) { e.getApproval().setFirstPeriod(0); }, "approval.firstPeriod: required (YYYYMM)"},
      {"reviewDueDate may be 0", [](E e) { e.getApproval().setReviewDueDate(0); }, "ok"},
      {"a date from 1990", [](E e) { e.setBusinessDate(19891231); }, "businessDate: 19891231 is not a date (YYYYMMDD)"},
      {"date required", [](E e) { e.setBusinessDate(0); }, "businessDate: required (YYYYMMDD)"},
      {"fen", [](E e) { e.getApproval().setMonthlyAmountFen(-5); },
       "approval.monthlyAmountFen: negative amount -5 fen"},
      {"a number no rule names", [](E e) { e.getApproval().setMembersCovered(0); }, "ok"},
      {"expectedVersion", [](E e) { e.getExpectedVersion().setExactly(3); }, "ok"},
      {"a list item's struct's field",
       [](E e) { RegisterTwo(e).getMembers()[1].getPerson().setMasked("341502195203141236"); },
       "householdRegistered.members[1].person.masked: missing or not masked"},
      {"a full number", [](E e) { RegisterTwo(e).getMembers()[0].getPerson().setNumber(""); },
       "householdRegistered.members[0].person.number: full number present in a stored event"},
      {"a keyed hash", [](E e) { RegisterTwo(e).getMembers()[0].getPerson().initKeyedHash(31); },
       "householdRegistered.members[0].person.keyedHash: missing or not 32 bytes"},
      {"a person required", [](E e) { RegisterTwo(e).getMembers()[1].disownPerson(); },
       "householdRegistered.members[1].person: required"},
      {"birthDate from 1880", [](E e) { RegisterTwo(e).getMembers()[0].setBirthDate(18800101); }, "ok"},
      {"birthDate before 1880", [](E e) { RegisterTwo(e).getMembers()[0].setBirthDate(18791231); },
       "householdRegistered.members[0].birthDate: 18791231 is not a date (YYYYMMDD)"},
      {"free text", [](E e) { RegisterTwo(e).setAddress("a\x01"); },
       "householdRegistered.address: not text (valid UTF-8, no control characters, at most 4096 bytes)"},
      {"too many items", [](E e) { e.initMembersChanged().initRemoved(kMaxListItems + 1); },
       "membersChanged.removed: more than 1000 items"},
      {"paymentIds items",
       [](E e) {
         e.setHouseholdId("H1");
         auto r = e.initRecoveryOrdered();
         r.setRecoveryId("R1");
         auto ids = r.initPaymentIds(2);
         ids.set(0, "P1");
         ids.set(1, "");
       },
       "recoveryOrdered.paymentIds[1]: required"},
      {"payeeCard may be absent",
       [](E e) {
         auto a = e.initApplicationSubmitted();
         a.setCaseId("C1");
         a.setProgramme(schema::Programme::URBAN_DIBAO);
       },
       "ok"},
      {"card required",
       [](E e) {
         auto p = e.initPaymentIssued();
         p.setPaymentId("P1");
         p.setRollId("R1");
         p.setCaseId("C1");
         p.setProgramme(schema::Programme::URBAN_DIBAO);
         p.setPeriod(202404);
       },
       "paymentIssued.card: required"},
      {"countyCode",
       [](E e) {
         e.setHouseholdId("");
         auto r = e.initPaymentRollIssued();
         r.setRollId("R1");
         r.setCountyCode("34150");
       },
       "paymentRollIssued.countyCode: not a 6-digit county code"},
      {"jurisdiction",
       [](E e) {
         e.setHouseholdId("");
         auto a = e.initActorRegistered();
         a.setNewActorId("a1");
         a.setRole(schema::Role::CASEWORKER);
         a.setJurisdiction("3");
       },
       "actorRegistered.jurisdiction: not a region prefix (2, 4, 6, 9 or 12 digits)"},
      {"a correction's amended event",
       [](E e) {
         capnp::MallocMessageBuilder amended;
         FillApproval(amended.initRoot<schema::Event>());
         amended.getRoot<schema::Event>().getApproval().setCaseId("C 1");
         auto c = e.initCorrection();
         c.setTargetEventId("e0");
         c.setSecondActorId("cw2");
         c.setAmend(amended.getRoot<schema::Event>().asReader());
       },
       "correction.amend.approval.caseId: not an identifier (1 to 128 of A-Z a-z 0-9 . _ : / -)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    capnp::MallocMessageBuilder m;
    auto e = m.initRoot<schema::Event>();
    FillApproval(e);
    c.change(e);
    CHECK(ValidateEvent(e.asReader()).ToString() == c.expected);
  }
}
