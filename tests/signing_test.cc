// Signed approvals (ledger/signing.h): an actor with a public key signs its approvals,
// rejections, payment rolls and corrections. Signed events are created; unsigned, wrongly
// signed, copied-signature and altered events are refused naming actorSignature, under both
// policies; keys rotate through actorKeySet; `ledgerctl sign` output appends; verify reports a
// signed event whose signature does not check.
#include "ledger/domain/signing.h"

#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ledger/core/entry.h"
#include "ledger/core/store.h"
#include "ledger/domain/json.h"
#include "ledger/reports/verify.h"
#include "tests/test_util.h"

using ledger::AppendResult;
using ledger::Policy;
using ledger::Status;
using ledger::note::KeyPair;
using Outcome = AppendResult::Outcome;

namespace {

const std::string kCounty = "341502000000";
const std::string kH1Region = "341502001001";
const std::string kH2Region = "341502001002";

// ---------------------------------------------------------------------------------------------
// Events

// One event line (testing/events.h).
constexpr auto E = testing::EventLine;  // (id, household, region, actor, date, kind, body)

KeyPair NewKey(const std::string& name) {
  KeyPair key;
  Status s = ledger::note::GenerateKey(name, &key);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return key;
}

std::string PublicKeyText(const KeyPair& key) {
  return ledger::note::FormatVerifierKey(ledger::note::VerifierOf(key));
}

std::string Actor(const std::string& id, const std::string& role, const std::string& jurisdiction,
                  const std::string& public_key = "") {
  return testing::ActorRegistered(kCounty, "admin1",
                                  {.id = id, .role = role, .jurisdiction = jurisdiction, .public_key = public_key});
}

std::string KeySet(const std::string& id, const std::string& target, const std::string& public_key,
                   const std::string& actor = "admin1") {
  return E(id, "", kCounty, actor, 20240301, "actorKeySet",
           fmt::format(R"("targetActorId":"{}","publicKey":"{}","reason":"rotation")", target, public_key));
}

std::string Person(const std::string& body17) {
  return fmt::format(R"({{"number":"{}"}})", testing::IdentityNumber(body17));
}

// A lawful history up to decisions (it passes under enforce): actors (ca1 with `ca1_key`), a
// standard, household H1 with case C1 through its public notice, household H2 applying (C2).
std::vector<std::string> History(const KeyPair& ca1_key) {
  return {
      E("act-admin1", "", kCounty, "admin1", 20240102, "actorRegistered",
        R"("newActorId":"admin1","name":"admin1","role":"administrator","jurisdiction":"341502")"),
      Actor("cw1", "caseworker", "341502001"),
      Actor("cw2", "caseworker", "341502001"),
      Actor("tr1", "townshipReviewer", "341502001"),
      Actor("ca1", "countyApprover", "341502", PublicKeyText(ca1_key)),
      Actor("ca2", "countyApprover", "341502"),
      E("std-u", "", kCounty, "admin1", 20240103, "standardChanged",
        R"("regionPrefix":"341502","programme":"urban_dibao","amountFen":75000,"unit":"perPersonPerMonth","effectiveDate":20240101)"),
      E("H1-reg", "H1", kH1Region, "cw1", 20240105, "householdRegistered",
        testing::HouseholdMembers({testing::Member(testing::IdentityNumber("34150219520314123"), "a", "head"),
                                   testing::Member(testing::IdentityNumber("34150219800612234"), "b", "child")})),
      E("C1-app", "H1", kH1Region, "cw1", 20240106, "applicationSubmitted",
        R"("caseId":"C1","programme":"urban_dibao","declaredMonthlyIncomeFen":40000,"relativeOfStaff":false,"payeeCard":{"number":"6228480012345678901"},"payeeName":"a")"),
      E("C1-chk", "H1", kH1Region, "cw1", 20240108, "economicCheckRecorded",
        R"("caseId":"C1","perCapitaMonthlyIncomeFen":20000,"assetsWithinLimit":true,"secondActorId":"cw2")"),
      E("C1-vis", "H1", kH1Region, "cw1", 20240110, "homeVisitRecorded",
        R"("caseId":"C1","secondActorId":"cw2","countyLevel":false,"findings":"ok")"),
      E("C1-rev", "H1", kH1Region, "tr1", 20240112, "townshipReview", R"("caseId":"C1","outcome":"pass")"),
      E("C1-ntc", "H1", kH1Region, "tr1", 20240113, "publicNoticePosted",
        R"("caseId":"C1","fromDate":20240113,"toDate":20240119)"),
      E("H2-reg", "H2", kH2Region, "cw1", 20240105, "householdRegistered",
        testing::HouseholdMembers({testing::Member(testing::IdentityNumber("34150219671120456"), "x", "head")})),
      E("C2-app", "H2", kH2Region, "cw1", 20240106, "applicationSubmitted",
        R"("caseId":"C2","programme":"urban_dibao","declaredMonthlyIncomeFen":40000,"relativeOfStaff":false)"),
  };
}

// ca1's decisions on that history, in order: one of each signed kind.
std::string Approval(const std::string& id = "C1-apr", int64_t amount_fen = 110000) {
  return E(
      id, "H1", kCounty, "ca1", 20240122, "approval",
      fmt::format(
          R"("caseId":"C1","programme":"urban_dibao","monthlyAmountFen":{},"membersCovered":2,"firstPeriod":202402,"reviewDueDate":20250122)",
          amount_fen));
}
std::string Rejection(const std::string& id = "C2-rej") {
  return E(id, "H2", kCounty, "ca1", 20240120, "rejection", R"("caseId":"C2","reason":"income above the line")");
}
std::string Roll() {
  return E(
      "roll-R1", "", kCounty, "ca1", 20240205, "paymentRollIssued",
      R"("rollId":"R1","countyCode":"341502","programme":"urban_dibao","period":202402,"lineCount":1,"controlSumFen":110000)");
}
std::string Correction() {
  return E("C2-ann", "H2", kCounty, "ca1", 20240201, "correction",
           R"("targetEventId":"C2-rej","reason":"wrong case","secondActorId":"ca2","annul":null)");
}

// ---------------------------------------------------------------------------------------------
// Signing and changing JSON lines

std::unique_ptr<capnp::MallocMessageBuilder> Parse(const std::string& line) {
  auto message = std::make_unique<capnp::MallocMessageBuilder>();
  Status s = ledger::ParseEventJson(line, message.get());
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return message;
}

ledger::schema::Event::Builder Root(const std::unique_ptr<capnp::MallocMessageBuilder>& message) {
  return message->getRoot<ledger::schema::Event>();
}

std::string Json(const std::unique_ptr<capnp::MallocMessageBuilder>& message) {
  return ledger::EventToJson(Root(message).asReader());
}

Status TrySign(const std::string& line, const KeyPair& key, std::string* signed_line) {
  auto message = Parse(line);
  Status s = ledger::signing::SignEvent(message.get(), key);
  if (s.ok()) *signed_line = Json(message);
  return s;
}

std::string Sign(const std::string& line, const KeyPair& key) {
  std::string out;
  Status s = TrySign(line, key, &out);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return out;
}

std::string SignatureOf(const std::string& signed_line) {
  auto message = Parse(signed_line);  // Lives while `sig` points into it.
  auto sig = Root(message).asReader().getActorSignature();
  return std::string(reinterpret_cast<const char*>(sig.begin()), sig.size());
}

std::string WithSignature(const std::string& line, const std::string& signature) {
  auto message = Parse(line);
  Root(message).setActorSignature(
      capnp::Data::Reader(reinterpret_cast<const uint8_t*>(signature.data()), signature.size()));
  return Json(message);
}

// The signed approval with another amount: its old signature kept.
std::string AlteredApproval(const std::string& signed_line) {
  auto message = Parse(signed_line);
  Root(message).getApproval().setMonthlyAmountFen(999900);
  return Json(message);
}

// ---------------------------------------------------------------------------------------------
// Checks

void CheckCreated(const AppendResult& r) {
  INFO(r.error.ToString());
  if (!r.findings.empty()) INFO("finding: ", r.findings.front().rule, ": ", r.findings.front().message);
  CHECK(r.outcome == Outcome::kCreated);
}

// Refused, naming `field`, with a reason that says `word`.
void CheckRefused(const AppendResult& r, const std::string& field, const std::string& word) {
  INFO("error: ", r.error.ToString());
  CHECK(r.outcome == Outcome::kRejected);
  CHECK(r.error.field() == field);
  CHECK(r.error.reason().find(word) != std::string::npos);
  CHECK(r.findings.empty());  // Refused for the signature, not by a domain rule.
}

std::unique_ptr<ledger::Log> LedgerWith(const std::string& dir, Policy policy, const std::vector<std::string>& lines) {
  auto l = testing::NewLedger(dir, policy);
  auto results = testing::AppendLines(l.get(), lines);
  for (size_t i = 0; i < results.size(); ++i) {
    INFO("line ", i + 1, ": ", results[i].error.ToString());
    REQUIRE(results[i].outcome == Outcome::kCreated);
  }
  return l;
}

ledger::VerifyReport VerifyLedger(const ledger::Log& l) {
  ledger::VerifyReport report;
  Status s = ledger::Verify(l, &report);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return report;
}

// Each way of getting `line`'s signature wrong is refused; then the rightly signed line is
// created. `other_signed` is another event rightly signed by the same key.
void CheckOnlyRightSignatureAccepted(ledger::Log* l, const std::string& line, const KeyPair& key,
                                     const std::string& other_signed) {
  CAPTURE(line);
  CheckRefused(testing::AppendLine(l, line), "actorSignature", "required");
  KeyPair impostor = NewKey(key.name);  // Same name, another key.
  CheckRefused(testing::AppendLine(l, Sign(line, impostor)), "actorSignature", "does not verify");
  CheckRefused(testing::AppendLine(l, WithSignature(line, SignatureOf(other_signed))), "actorSignature",
               "does not verify");
  std::string bad_length = SignatureOf(Sign(line, key)).substr(0, 63);
  CheckRefused(testing::AppendLine(l, WithSignature(line, bad_length)), "actorSignature", "64");
  CheckCreated(testing::AppendLine(l, Sign(line, key)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("the signed bytes: the context line, then the canonical event without its signature") {
  KeyPair key = NewKey("ca1");
  auto unsigned_event = Parse(Approval());
  auto signed_event = Parse(Sign(Approval(), key));
  std::string bytes = ledger::signing::SignedEventBytes(Root(signed_event).asReader());
  CHECK(bytes.rfind("benefit-ledger event signature v1\n", 0) == 0);
  CHECK(bytes ==
        std::string(ledger::signing::kEventSignatureContext) + ledger::CanonicalEvent(Root(unsigned_event).asReader()));
  CHECK(bytes == ledger::signing::SignedEventBytes(Root(unsigned_event).asReader()));
  // Signing is deterministic (Ed25519), so a retried signed event is the same event.
  CHECK(Sign(Approval(), key) == Sign(Approval(), key));
  CHECK(ledger::signing::IsSignedKind(ledger::schema::Event::Which::CORRECTION));
  CHECK_FALSE(ledger::signing::IsSignedKind(ledger::schema::Event::Which::PAYMENT_ISSUED));
}

TEST_CASE("an actor with a key: each signed kind is created only with the right signature, under both policies") {
  for (Policy policy : {Policy::kEnforce, Policy::kRecord}) {
    CAPTURE(ledger::PolicyName(policy));
    testing::TempDir dir;
    KeyPair ca1 = NewKey("ca1");
    auto l = LedgerWith(dir.Sub("l"), policy, History(ca1));
    const std::string other = Sign(Approval("C9-apr"), ca1);  // Never appended: a donor of signatures.
    CheckOnlyRightSignatureAccepted(l.get(), Approval(), ca1, other);
    CheckOnlyRightSignatureAccepted(l.get(), Rejection(), ca1, other);
    CheckOnlyRightSignatureAccepted(l.get(), Roll(), ca1, other);
    CheckOnlyRightSignatureAccepted(l.get(), Correction(), ca1, other);
    // An approval changed after it was signed (here: its amount) no longer verifies.
    std::string approval2 = Sign(Approval("C1-apr2"), ca1);
    CheckRefused(testing::AppendLine(l.get(), AlteredApproval(approval2)), "actorSignature", "does not verify");
    CHECK(testing::AppendLine(l.get(), Sign(Approval(), ca1)).outcome == Outcome::kExists);  // A retry.
    ledger::VerifyReport report = VerifyLedger(*l);
    CHECK_MESSAGE(report.ok, report.problem);
  }
}

TEST_CASE("signatures nobody can check are refused: other kinds, actors without a key, amendments") {
  testing::TempDir dir;
  KeyPair ca1 = NewKey("ca1"), ca2 = NewKey("ca2");
  auto l = LedgerWith(dir.Sub("l"), Policy::kRecord, History(ca1));
  const std::string donor = SignatureOf(Sign(Approval(), ca1));
  // A kind that is not signed, even by an actor with a key.
  std::string exit_line = E("C1-exit", "H1", kCounty, "ca1", 20240301, "exit",
                            R"("caseId":"C1","reason":"voluntary","lastPeriod":202403,"note":"x")");
  CheckRefused(testing::AppendLine(l.get(), WithSignature(exit_line, donor)), "actorSignature", "is not a signed kind");
  std::string out;
  CHECK(TrySign(exit_line, ca1, &out).field() == "actorSignature");
  // ca2 has no key: its corrections are unsigned, and a signature on one is refused.
  std::string by_ca2 = E("C2-rej-ca2", "H2", kCounty, "ca2", 20240120, "rejection", R"("caseId":"C2","reason":"r")");
  CheckRefused(testing::AppendLine(l.get(), Sign(by_ca2, ca2)), "actorSignature", "no public key");
  // The key must be the actor's: sign refuses another actor's key.
  CHECK(TrySign(by_ca2, ca1, &out).field() == "actorId");
  CheckCreated(testing::AppendLine(l.get(), by_ca2));
  // An amendment carries no signature of its own: neither sign nor append take one.
  auto amend = Parse(Sign(
      E("C2-amend", "H2", kCounty, "ca1", 20240201, "correction",
        fmt::format(R"("targetEventId":"C2-rej-ca2","reason":"wording","secondActorId":"ca2","amend":{})", by_ca2)),
      ca1));
  std::string signature = SignatureOf(Json(amend));
  Root(amend).getCorrection().getAmend().setActorSignature(
      capnp::Data::Reader(reinterpret_cast<const uint8_t*>(signature.data()), signature.size()));
  CheckRefused(testing::AppendLine(l.get(), Json(amend)), "correction.amend.actorSignature", "amendment");
  CHECK(TrySign(Json(amend), ca1, &out).field() == "correction.amend.actorSignature");
}

TEST_CASE("an event its actor must sign cannot hold an identity or card number") {
  testing::TempDir dir;
  KeyPair ca1 = NewKey("ca1");
  auto l = LedgerWith(dir.Sub("l"), Policy::kRecord, History(ca1));
  std::string amend_h2 =
      E("H2-fix", "H2", kCounty, "ca1", 20240201, "correction",
        fmt::format(R"("targetEventId":"H2-reg","reason":"name","secondActorId":"ca2","amend":{})",
                    E("H2-reg", "H2", kH2Region, "cw1", 20240105, "householdRegistered",
                      fmt::format(R"("members":[{{"person":{},"name":"y","relation":"head","birthDate":19671120}}])",
                                  Person("34150219671120456")))));
  const std::string field = "correction.amend.householdRegistered.members[0].person";
  std::string out;
  Status s = TrySign(amend_h2, ca1, &out);
  CHECK(s.field() == field);
  CHECK(s.reason().find("identity or card number") != std::string::npos);
  CheckRefused(testing::AppendLine(l.get(), amend_h2), field, "identity or card number");
}

TEST_CASE("key rotation: after actorKeySet the old key is refused, the new one accepted, and old events still verify") {
  testing::TempDir dir;
  KeyPair old_key = NewKey("ca1"), new_key = NewKey("ca1");
  auto lines = History(old_key);
  lines.push_back(Sign(Approval(), old_key));
  lines.push_back(Sign(Rejection(), old_key));
  auto l = LedgerWith(dir.Sub("l"), Policy::kEnforce, lines);
  CheckCreated(testing::AppendLine(l.get(), KeySet("key-ca1", "ca1", PublicKeyText(new_key))));
  CheckRefused(testing::AppendLine(l.get(), Sign(Correction(), old_key)), "actorSignature", "does not verify");
  CheckCreated(testing::AppendLine(l.get(), Sign(Correction(), new_key)));
  ledger::VerifyReport report = VerifyLedger(*l);
  CHECK_MESSAGE(report.ok, report.problem);

  SUBCASE("a key removed: the actor's events are unsigned again") {
    CheckCreated(testing::AppendLine(l.get(), KeySet("key-ca1-off", "ca1", "")));
    CheckRefused(testing::AppendLine(l.get(), Sign(Rejection("C2-rej2"), new_key)), "actorSignature", "no public key");
    CheckCreated(testing::AppendLine(l.get(), Rejection("C2-rej2")));
    CHECK(VerifyLedger(*l).ok);
  }
  SUBCASE("actorKeySet: for a registered actor, with a key named after it, by an administrator") {
    CheckRefused(testing::AppendLine(l.get(), KeySet("key-x", "nobody", PublicKeyText(NewKey("nobody")))),
                 "actorKeySet.targetActorId", "no actor");
    CheckRefused(testing::AppendLine(l.get(), KeySet("key-y", "ca2", PublicKeyText(NewKey("ca1")))),
                 "actorKeySet.publicKey.name", "named after the actor");
    auto r = testing::AppendLine(l.get(), KeySet("key-z", "ca2", PublicKeyText(NewKey("ca2")), "cw1"));
    CHECK(r.outcome == Outcome::kRejected);
    CHECK(r.error.field() == "actor.role");
    r = testing::AppendLine(l.get(), KeySet("key-w", "ca2", "ca2+00000000+AAAA"));
    CHECK(r.outcome == Outcome::kRejected);
    CHECK(r.error.field() == "actorKeySet.publicKey");
  }
}

TEST_CASE("ledgerctl sign: its output appends, and reads back as the event it was given") {
  testing::TempDir dir;
  KeyPair ca1 = NewKey("ca1");
  const std::string key_path = dir.Sub("ca1.key");
  std::ofstream(key_path) << ledger::note::FormatSignerKey(ca1) << "\n";
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), History(ca1), "enforce");
  const std::string input = Approval() + "\n\n" + Rejection() + "\n" + Roll() + "\n" + Correction() + "\n";

  auto sign = testing::RunLedgerctl({"sign", "--key", key_path}, input);
  INFO(sign.err);
  REQUIRE(sign.exit_code == 0);
  std::vector<std::string> out;
  for (size_t at = 0, end; (end = sign.out.find('\n', at)) != std::string::npos; at = end + 1) {
    out.push_back(sign.out.substr(at, end - at));
  }
  const std::vector<std::string> given = {Approval(), Rejection(), Roll(), Correction()};
  REQUIRE(out.size() == given.size());
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(SignatureOf(out[i]).size() == 64);
    auto back = Parse(out[i]);
    Root(back).disownActorSignature();
    CHECK(ledger::CanonicalEvent(Root(back).asReader()) == ledger::CanonicalEvent(Root(Parse(given[i])).asReader()));
  }
  auto append = testing::RunLedgerctl({"append", "--dir", d}, sign.out);
  INFO(append.out, append.err);
  CHECK(append.exit_code == 0);
  CHECK(append.out.find("\"status\":\"created\"") != std::string::npos);
  CHECK(testing::RunLedgerctl({"verify", "--dir", d}).exit_code == 0);
}

TEST_CASE("ledgerctl sign: a line it cannot sign is named, and nothing is written") {
  testing::TempDir dir;
  KeyPair ca1 = NewKey("ca1");
  const std::string key_path = dir.Sub("ca1.key");
  std::ofstream(key_path) << ledger::note::FormatSignerKey(ca1) << "\n";
  std::string exit_line = E("C1-exit", "H1", kCounty, "ca1", 20240301, "exit",
                            R"("caseId":"C1","reason":"voluntary","lastPeriod":202403,"note":"x")");
  auto sign = testing::RunLedgerctl({"sign", "--key", key_path, "-"}, Approval() + "\n" + exit_line + "\n");
  CHECK(sign.exit_code == 1);
  CHECK(sign.out.empty());
  CHECK(sign.err.find("line 2 (C1-exit): actorSignature: ") != std::string::npos);

  std::ofstream(dir.Sub("bad.key")) << PublicKeyText(ca1) << "\n";  // A public key is no signer key.
  CHECK(testing::RunLedgerctl({"sign", "--key", dir.Sub("bad.key")}, Approval() + "\n").exit_code == 2);
  CHECK(testing::RunLedgerctl({"sign"}, "").exit_code == 2);
}

TEST_CASE("ledgerctl payroll issue signs the roll with --key when its actor has a key") {
  testing::TempDir dir;
  KeyPair ca1 = NewKey("ca1"), fin1 = NewKey("fin1");
  const std::string key_path = dir.Sub("fin1.key");
  std::ofstream(key_path) << ledger::note::FormatSignerKey(fin1) << "\n";
  auto lines = History(ca1);
  lines.push_back(Actor("fin1", "financeOfficer", "341502", PublicKeyText(fin1)));
  lines.push_back(Sign(Approval(), ca1));
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), lines, "enforce");
  const std::vector<std::string> issue = {"payroll", "issue",       "--dir",       d,          "--county",
                                          "341502",  "--programme", "urban_dibao", "--period", "2024-02",
                                          "--actor", "fin1",        "--date",      "20240205"};
  auto unsigned_run = testing::RunLedgerctl(issue);
  INFO(unsigned_run.out, unsigned_run.err);
  CHECK(unsigned_run.exit_code == 1);
  CHECK(unsigned_run.err.find("actorSignature: required") != std::string::npos);
  auto with_key = issue;
  with_key.insert(with_key.end(), {"--key", key_path});
  auto signed_run = testing::RunLedgerctl(with_key);
  INFO(signed_run.out, signed_run.err);
  CHECK(signed_run.exit_code == 0);
  CHECK(signed_run.out.find("issued roll R-341502-urban_dibao-202402: 1 payments") != std::string::npos);
  CHECK(testing::RunLedgerctl({"verify", "--dir", d}).exit_code == 0);
}

TEST_CASE("verify reports a signed event whose signature was altered and the chain re-hashed") {
  testing::TempDir dir;
  KeyPair ca1 = NewKey("ca1");
  auto lines = History(ca1);
  lines.push_back(Sign(Approval(), ca1));
  const uint64_t approval_seq = lines.size() + 1;  // After the genesis entry.
  lines.push_back(Sign(Rejection(), ca1));
  const std::string path = dir.Sub("l");
  LedgerWith(path, Policy::kRecord, lines);
  {
    // The approval is H1's last entry: flip a bit of its signature, re-encode the entry, and
    // put its new hash and digest in the household index, the event-id index and H1's head.
    std::unique_ptr<ledger::Store> store;
    REQUIRE(ledger::Store::Open(path + "/db", /*create=*/false, &store).ok());
    std::string bytes;
    bool found = false;
    REQUIRE(store->Get(ledger::kLog, ledger::SeqKey(approval_seq), &bytes, &found).ok());
    ledger::EntryReader reader;
    REQUIRE(reader.Init(bytes).ok());
    auto event = reader.entry().getEvent();
    std::string sig = SignatureOf(ledger::EventToJson(event));
    sig[10] = static_cast<char>(sig[10] ^ 0x01);
    auto forged = Parse(WithSignature(ledger::EventToJson(event), sig));
    ledger::EntryLinks links;
    links.seq = approval_seq;
    links.recorded_at_us = reader.entry().getRecordedAtUs();
    memcpy(links.prev_hash.data(), reader.entry().getPrevHash().begin(), 32);
    links.household_prev_seq = reader.entry().getHouseholdPrevSeq();
    memcpy(links.household_prev_hash.data(), reader.entry().getHouseholdPrevHash().begin(), 32);
    std::string forged_bytes = ledger::EncodeEntry(links, Root(forged).asReader());
    ledger::Hash hash = ledger::LeafHash(ledger::AsBytes(forged_bytes));
    auto db = store->db();
    REQUIRE(db->Put({}, store->cf(ledger::kLog), ledger::SeqKey(approval_seq), forged_bytes).ok());
    ledger::EventIdValue id = ledger::EventIdValue::For(approval_seq, hash);
    REQUIRE(db->Put({}, store->cf(ledger::kEventId), "C1-apr", id.Encode()).ok());
    std::string value;
    REQUIRE(store->Get(ledger::kHouseholdHead, "H1", &value, &found).ok());
    auto head = ledger::HouseholdHead::Decode(value);
    REQUIRE((head && head->last_seq == approval_seq));
    head->last_hash = hash;
    REQUIRE(db->Put({}, store->cf(ledger::kHouseholdHead), "H1", head->Encode()).ok());
  }
  // The next entry (the rejection, household H2) still names the approval's old hash: without
  // the signature check, verify would stop there; it stops at the approval itself.
  auto run = testing::RunLedgerctl({"verify", "--dir", path});
  INFO(run.out, run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.out.rfind(fmt::format("FAILED at seq {}: actorSignature: the signature of actor \"ca1\" does not verify",
                                  approval_seq),
                      0) == 0);
}
