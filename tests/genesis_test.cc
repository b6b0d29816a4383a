// The ledger's identity in its log (ledger/genesis.h): every ledger's first entry records its
// policy, checkpoint key and a check value of its keyed-hash secret; verify fails, and appends
// are refused, when the ledger runs under anything else: the policy row edited with RocksDB's
// own `ldb` (Debian rocksdb-tools), a replaced secret file, an edited checkpoint key. The ledger's
// own kinds cannot be appended or corrected; setkey records a key in the log; a ledger made before
// genesis entries gets one from upgrade.
#include "ledger/core/genesis.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/core/store.h"
#include "ledger/domain/identity.h"
#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"
#include "ledger/evidence/evidence.h"
#include "ledger/reports/verify.h"
#include "ledger/util/hash.h"
#include "tests/test_util.h"

namespace {

using ledger::Status;
using Outcome = ledger::AppendResult::Outcome;

std::string FileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// Runs RocksDB's ldb tool on the ledger's database (the default column family is meta).
void Ldb(const std::string& dir, const std::string& args) {
  std::string command = "ldb --db=" + dir + "/db " + args + " > /dev/null";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

void PutRaw(const std::string& dir, ledger::Cf cf, const std::string& key, const std::string& value) {
  std::unique_ptr<ledger::Store> store;
  REQUIRE(ledger::Store::Open(dir + "/db", /*create=*/false, &store).ok());
  REQUIRE(store->db()->Put(rocksdb::WriteOptions(), store->cf(cf), key, value).ok());
}

ledger::VerifyReport VerifyAt(const std::string& dir) {
  auto l = testing::OpenLedger(dir);
  ledger::VerifyReport report;
  REQUIRE(ledger::Verify(*l, &report).ok());
  return report;
}

// An administrator registering itself, and a household registered by that administrator: a
// caseworker's act (actor.role), refused under enforce, recorded with its finding under record.
const std::string kAdmin =
    R"({"eventId":"act-admin","regionCode":"341502000000","actorId":"admin1","businessDate":20240102,)"
    R"("actorRegistered":{"newActorId":"admin1","name":"A","role":"administrator","jurisdiction":"341502"}})";
const std::string kRegister =
    R"({"eventId":"h1-reg","householdId":"H1","regionCode":"341502001001","actorId":"admin1","businessDate":20240105,)"
    R"("householdRegistered":{"members":[{"person":{"number":"341502195203141236"},"name":"张三","relation":"head",)"
    R"("birthDate":19520314}],"address":"城东街道 3 号"}})";

std::string Init(const testing::TempDir& tmp, const std::string& policy = "enforce") {
  std::string dir = tmp.Sub("l");
  auto run = testing::RunLedgerctl({"init", "--dir", dir, "--policy", policy});
  INFO(run.out, run.err);
  REQUIRE(run.exit_code == 0);
  return dir;
}

// Appending `line` is refused as a whole (the group's status, not a result of its own).
Status AppendRefused(ledger::Log* l, const std::string& line) {
  capnp::MallocMessageBuilder message;
  REQUIRE(ledger::ParseEventJson(line, &message).ok());
  capnp::MessageBuilder* events[] = {&message};
  std::vector<ledger::AppendResult> results;
  Status s = l->AppendGroup(events, &results);
  CHECK(results.empty());
  return s;
}

ledger::schema::Event::Reader EventAt(const ledger::Log& l, uint64_t seq, std::string* bytes,
                                      ledger::EntryReader* reader) {
  REQUIRE(l.ReadEntry(seq, bytes).ok());
  REQUIRE(reader->Init(*bytes).ok());
  return reader->entry().getEvent();
}

}  // namespace

TEST_CASE("init writes the genesis entry at seq 1: policy, origin, checkpoint key, a check value of the secret") {
  testing::TempDir tmp;
  const std::string dir = Init(tmp, "record");
  auto l = testing::OpenLedger(dir);
  CHECK(l->head().seq == 1);
  CHECK(l->identity_error().ok());
  std::string bytes;
  ledger::EntryReader reader;
  auto event = EventAt(*l, 1, &bytes, &reader);
  REQUIRE(event.isLedgerGenesis());
  CHECK(std::string(event.getEventId().cStr()) == ledger::kGenesisEventId);
  CHECK(std::string(event.getActorId().cStr()) == ledger::kLedgerActorId);
  auto g = event.getLedgerGenesis();
  CHECK(g.getPolicy() == ledger::schema::LedgerPolicy::RECORD);
  std::string pub = FileText(dir + "/checkpoint.pub");
  CHECK(std::string(g.getCheckpointKey().cStr()) + "\n" == pub);
  CHECK(std::string(g.getOrigin().cStr()) == "benefit-ledger/l");
  // The check value is the HMAC of the fixed label under the secret file's bytes, not the secret.
  const std::string secret = FileText(dir + "/secret");
  REQUIRE(secret.size() == ledger::kSecretBytes);
  ledger::Hash check = ledger::SecretCheck(ledger::AsBytes(secret));
  CHECK(std::string(reinterpret_cast<const char*>(g.getSecretCheck().begin()), g.getSecretCheck().size()) ==
        std::string(reinterpret_cast<const char*>(check.data()), check.size()));
  CHECK(bytes.find(secret) == std::string::npos);

  l.reset();
  auto verify = testing::RunLedgerctl({"verify", "--dir", dir});
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.rfind("ok: 1 entry, 0 households", 0) == 0);
  CHECK(verify.out.find("note:") == std::string::npos);  // The genesis is seq 1: nothing to say.
  // The genesis is an entry like any other: in the Merkle tree, provable.
  CHECK(testing::RunLedgerctl({"prove", "inclusion", "--dir", dir, "--seq", "1"}).exit_code == 0);
}

TEST_CASE("an ldb edit of the policy row makes verify fail, and the ledger refuses to append") {
  testing::TempDir tmp;
  const std::string dir = Init(tmp, "enforce");
  REQUIRE(testing::RunLedgerctl({"append", "--dir", dir}, kAdmin + "\n").exit_code == 0);
  // Under enforce the registration by an administrator is refused, naming the rule.
  auto refused = testing::RunLedgerctl({"append", "--dir", dir}, kRegister + "\n");
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.find("\"rule\":\"actor.role\"") != std::string::npos);

  Ldb(dir, "put policy record");
  auto verify = testing::RunLedgerctl({"verify", "--dir", dir});
  INFO(verify.out, verify.err);
  CHECK(verify.exit_code == 1);
  CHECK(verify.out.rfind("FAILED at seq 1: the ledger runs under the policy \"record\" (meta policy), its genesis "
                         "entry (seq 1) says \"enforce\"",
                         0) == 0);
  CHECK(verify.err.find("WARNING: the ledger runs under the policy \"record\"") != std::string::npos);
  // The registration is not recorded under the edited policy: the ledger appends nothing at all.
  auto after = testing::RunLedgerctl({"append", "--dir", dir}, kRegister + "\n");
  CHECK(after.exit_code == 2);
  CHECK(after.out.find("\"status\":\"created\"") == std::string::npos);
  CHECK(after.err.find("Appends refused") != std::string::npos);
  CHECK(testing::OpenLedger(dir)->head().seq == 2);

  Ldb(dir, "put policy enforce");  // Put back: verifies again.
  CHECK(testing::RunLedgerctl({"verify", "--dir", dir}).exit_code == 0);
}

TEST_CASE("a replaced secret file makes verify fail, saying so, and the ledger refuses to append") {
  testing::TempDir tmp;
  const std::string dir = Init(tmp);
  REQUIRE(testing::RunLedgerctl({"append", "--dir", dir}, kAdmin + "\n").exit_code == 0);
  const std::string original = FileText(dir + "/secret");
  std::string other = original;
  other[0] = static_cast<char>(other[0] ^ 0x01);
  WriteFile(dir + "/secret", other);

  ledger::VerifyReport report = VerifyAt(dir);
  CHECK_FALSE(report.ok);
  CHECK(report.bad_seq == 1);
  CHECK(report.problem.find("the keyed-hash secret (the file D/secret) is not the one the genesis entry (seq 1) "
                            "records: it was replaced") != std::string::npos);
  auto l = testing::OpenLedger(dir);
  CHECK(l->identity_error().code() == Status::Code::kCorruption);
  // Its identity number would be hashed under the wrong key: nothing is appended.
  CHECK(AppendRefused(l.get(), kRegister).code() == Status::Code::kCorruption);
  CHECK(l->head().seq == 2);
  l.reset();

  WriteFile(dir + "/secret", original);
  CHECK(VerifyAt(dir).ok);
  const std::string caseworker =
      R"({"eventId":"act-cw1","regionCode":"341502000000","actorId":"admin1","businessDate":20240102,)"
      R"("actorRegistered":{"newActorId":"cw1","name":"C","role":"caseworker","jurisdiction":"341502"}})";
  CHECK(testing::AppendLine(testing::OpenLedger(dir).get(), caseworker).outcome == Outcome::kCreated);
}

TEST_CASE("an edited checkpoint key row makes verify fail") {
  testing::TempDir tmp;
  const std::string dir = Init(tmp);
  ledger::note::KeyPair other;
  REQUIRE(ledger::note::GenerateKey("benefit-ledger/l", &other).ok());
  PutRaw(dir, ledger::kMeta, std::string(ledger::kMetaCheckpointKey),
         ledger::note::FormatVerifierKey(ledger::note::VerifierOf(other)));
  ledger::VerifyReport report = VerifyAt(dir);
  CHECK_FALSE(report.ok);
  CHECK(report.problem.find("the checkpoint key in meta") != std::string::npos);
  // A checkpoint signed with the substituted key is refused too.
  auto l = testing::OpenLedger(dir);
  ledger::evidence::SignedCheckpoint cp;
  bool made = false;
  CHECK_FALSE(ledger::evidence::MakeCheckpoint(l.get(), other, &cp, &made).ok());
}

TEST_CASE("the ledger's own kinds are never appended, and its genesis is never corrected") {
  testing::TempDir tmp;
  for (auto policy : {ledger::Policy::kEnforce, ledger::Policy::kRecord}) {
    auto l = testing::NewLedger(tmp.Sub(ledger::PolicyName(policy)), policy);
    REQUIRE(testing::AppendLine(l.get(), kAdmin).outcome == Outcome::kCreated);
    auto genesis = testing::AppendLine(
        l.get(), R"({"eventId":"g2","actorId":"ledger","businessDate":20240102,"ledgerGenesis":{"policy":"record"}})");
    CHECK(genesis.outcome == Outcome::kRejected);
    CHECK(genesis.error.reason().find("written by the ledger itself") != std::string::npos);
    auto key = testing::AppendLine(
        l.get(),
        R"({"eventId":"ledger:checkpoint-key:1","actorId":"ledger","businessDate":20240102,"checkpointKeySet":{"origin":"x","checkpointKey":"","reason":"r"}})");
    CHECK(key.outcome == Outcome::kRejected);
    // With a region code it is not even well-formed: the ledger's own entries have none.
    auto with_region = testing::AppendLine(
        l.get(),
        R"({"eventId":"g3","regionCode":"341502000000","actorId":"ledger","businessDate":20240102,"ledgerGenesis":{"policy":"record"}})");
    CHECK(with_region.error.field() == "regionCode");
    auto annul = testing::AppendLine(
        l.get(),
        R"({"eventId":"cor","regionCode":"341502000000","actorId":"admin1","businessDate":20240103,"correction":{"targetEventId":"ledger:genesis","reason":"policy","secondActorId":"admin2","annul":null}})");
    CHECK(annul.outcome == Outcome::kRejected);
    CHECK(annul.error.field() == "correction.targetEventId");
    CHECK(l->head().seq == 2);
    ledger::VerifyReport report;
    REQUIRE(ledger::Verify(*l, &report).ok());
    CHECK(report.ok);
  }
}

TEST_CASE("setkey records a checkpoint key in the log for a ledger made without one, and only once") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  REQUIRE(ledger::Log::Create(ledger::domain::Rules(), dir, ledger::Policy::kEnforce).ok());  // The library: no key.
  {
    auto l = testing::OpenLedger(dir);
    std::string bytes;
    ledger::EntryReader reader;
    CHECK(std::string(EventAt(*l, 1, &bytes, &reader).getLedgerGenesis().getCheckpointKey().cStr()).empty());
  }
  auto set = testing::RunLedgerctl({"setkey", "--dir", dir, "--origin", "benefit-ledger/later"});
  INFO(set.out, set.err);
  REQUIRE(set.exit_code == 0);
  CHECK(set.out.find("recorded in the log at seq 2 (checkpointKeySet)") != std::string::npos);
  {
    auto l = testing::OpenLedger(dir);
    std::string bytes;
    ledger::EntryReader reader;
    auto event = EventAt(*l, 2, &bytes, &reader);
    REQUIRE(event.isCheckpointKeySet());
    CHECK(std::string(event.getEventId().cStr()) == "ledger:checkpoint-key:1");
    CHECK(std::string(event.getCheckpointKeySet().getCheckpointKey().cStr()) + "\n" ==
          FileText(dir + "/checkpoint.pub"));
  }
  CHECK(testing::RunLedgerctl({"verify", "--dir", dir}).exit_code == 0);
  CHECK(testing::RunLedgerctl({"checkpoint", "--dir", dir}).exit_code == 0);
  CHECK(testing::RunLedgerctl({"setkey", "--dir", dir, "--origin", "benefit-ledger/again"}).exit_code == 2);
  // The meta key put back to none: the log still says there is one.
  PutRaw(dir, ledger::kMeta, std::string(ledger::kMetaCheckpointKey), "");
  PutRaw(dir, ledger::kMeta, std::string(ledger::kMetaOrigin), "");
  CHECK_FALSE(VerifyAt(dir).ok);
}

TEST_CASE("an empty ledger made before genesis entries refuses appends until upgrade writes its genesis at seq 1") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  {  // What Create wrote before genesis entries: the secret and the meta rows, no entry.
    std::filesystem::create_directories(dir);
    WriteFile(dir + "/secret", std::string(ledger::kSecretBytes, '\x5a'));
    std::unique_ptr<ledger::Store> store;
    REQUIRE(ledger::Store::Open(dir + "/db", /*create=*/true, &store).ok());
    rocksdb::WriteBatch batch;
    batch.Put(store->cf(ledger::kMeta), std::string(ledger::kMetaFormat), std::string(ledger::kFormatVersion));
    batch.Put(store->cf(ledger::kMeta), std::string(ledger::kMetaHead), ledger::HeadValue{}.Encode());
    batch.Put(store->cf(ledger::kMeta), std::string(ledger::kMetaPolicy), "record");
    batch.Put(store->cf(ledger::kMeta), std::string(ledger::kMetaStateSeq), ledger::SeqKey(0));
    batch.Put(store->cf(ledger::kMeta), std::string(ledger::kMetaTreeSize), ledger::SeqKey(0));
    REQUIRE(store->WriteSynced(&batch).ok());
  }
  {
    auto l = testing::OpenLedger(dir);
    CHECK(l->identity_error().code() == Status::Code::kBusy);
    CHECK(l->identity_error().reason().find("add it with Ledger::Upgrade") != std::string::npos);
    CHECK(AppendRefused(l.get(), kAdmin).code() == Status::Code::kBusy);
    ledger::VerifyReport report;
    REQUIRE(ledger::Verify(*l, &report).ok());
    CHECK_FALSE(report.ok);
    CHECK(report.problem.find("the log has no genesis entry") != std::string::npos);
  }
  auto run = testing::RunLedgerctl({"upgrade", "--dir", dir});
  INFO(run.out, run.err);
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("appended the genesis entry at seq 1") != std::string::npos);
  ledger::VerifyReport report = VerifyAt(dir);
  CHECK(report.ok);
  CHECK(report.genesis_seq == 1);
  auto l = testing::OpenLedger(dir);
  std::string bytes;
  ledger::EntryReader reader;
  CHECK(EventAt(*l, 1, &bytes, &reader).getLedgerGenesis().getPolicy() == ledger::schema::LedgerPolicy::RECORD);
  CHECK(testing::AppendLine(l.get(), kAdmin).outcome == Outcome::kCreated);
}

TEST_CASE("the log's identity: one genesis, keys set after it, by the ledger alone") {
  capnp::MallocMessageBuilder genesis, key, second;
  ledger::LedgerIdentity id;
  id.policy = ledger::Policy::kRecord;
  ledger::BuildGenesis(id, 20240101, &genesis);
  ledger::note::KeyPair k;
  REQUIRE(ledger::note::GenerateKey("benefit-ledger/x", &k).ok());
  std::string key_text = ledger::note::FormatVerifierKey(ledger::note::VerifierOf(k));
  ledger::BuildCheckpointKeySet(1, "benefit-ledger/x", key_text, "r", 20240102, &key);
  ledger::BuildCheckpointKeySet(2, "benefit-ledger/y", key_text, "r", 20240102, &second);
  auto root = [](capnp::MallocMessageBuilder& m) { return m.getRoot<ledger::schema::Event>().asReader(); };

  ledger::LogIdentity before_genesis;
  CHECK_FALSE(before_genesis.Add(1, root(key)).ok());

  ledger::LogIdentity log;
  REQUIRE(log.Add(1, root(genesis)).ok());
  CHECK(log.identity().checkpoint_key.empty());
  CHECK(ledger::IdentityMismatch(log.identity(), 1, id).empty());
  REQUIRE(log.Add(2, root(key)).ok());
  CHECK(log.identity().checkpoint_key == key_text);
  CHECK_FALSE(ledger::IdentityMismatch(log.identity(), 1, id).empty());  // meta has no key: differs
  CHECK(log.Add(3, root(genesis)).reason().find("a second genesis entry (the first is seq 1)") != std::string::npos);
  // The origin must be the key's name.
  CHECK(log.Add(3, root(second)).reason().find("is named \"benefit-ledger/x\"") != std::string::npos);
}
