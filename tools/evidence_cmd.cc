// ledgerctl keygen, setkey, checkpoint, prove and verify-proof: evidence an auditor can check
// offline (benefit_ledger/evidence.h, docs/EVIDENCE.md); and the checkpoint key step of init.

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "benefit_ledger/evidence.h"
#include "benefit_ledger/format.h"
#include "benefit_ledger/ledger.h"
#include "benefit_ledger/results.h"
#include "commands.h"
#include "report.h"
#include "source.h"

namespace tools {
namespace {

using ledger::Status;
namespace evidence = ledger::evidence;
namespace note = ledger::note;

constexpr size_t kMaxProofBytes = 64 << 20;

std::string SignerKeyPath(const std::string& dir) {
  return dir + "/checkpoint.key";
}
std::string VerifierKeyPath(const std::string& dir) {
  return dir + "/checkpoint.pub";
}

// Writes a file that must not exist yet, synced; prints why and returns false if it cannot.
bool WriteNewFile(const std::string& path, const std::string& text, mode_t mode, const char* command) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int saved = errno;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  if (!ok) fmt::print(stderr, "ledgerctl {}: cannot write {}: {}\n", command, path, strerror(saved));
  return ok;
}

// PREFIX.key (mode 0600) and PREFIX.pub, neither of which may exist.
bool WriteKeyFiles(const std::string& key_path, const std::string& pub_path, const note::KeyPair& key,
                   const char* command) {
  return WriteNewFile(key_path, note::FormatSignerKey(key) + "\n", 0600, command) &&
         WriteNewFile(pub_path, note::FormatVerifierKey(note::VerifierOf(key)) + "\n", 0644, command);
}

// An optional whole-number flag from 1 up; nullopt (and *ok) if absent.
std::optional<uint64_t> OptionalCount(const Flags& flags, const char* name, const char* command, bool* ok) {
  if (!flags.count(name)) return std::nullopt;
  auto v = ParseCount(flags.at(name), name, command, UINT64_MAX / 2);
  *ok = *ok && v.has_value();
  return v;
}

}  // namespace

// ---- The checkpoint key: init and setkey ---------------------------------------------------------------

std::optional<CheckpointKeyPlan> PlanCheckpointKey(const Flags& flags, const std::string& dir, const char* command) {
  CheckpointKeyPlan plan;
  if (flags.count("key")) {
    if (!ReadSignerKeyFile(flags.at("key"), &plan.key, command)) return std::nullopt;
    if (flags.count("origin") && flags.at("origin") != plan.key.name) {
      fmt::print(stderr,
                 "ledgerctl {}: --origin \"{}\" is not the name of the key in {} (\"{}\"): the origin is the "
                 "checkpoint key's name\n",
                 command, flags.at("origin"), flags.at("key"), plan.key.name);
      return std::nullopt;
    }
    return plan;
  }
  std::string base = std::filesystem::path(dir).lexically_normal().filename().string();
  if (base.empty()) base = std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();
  std::string origin = flags.count("origin") ? flags.at("origin") : "benefit-ledger/" + base;
  Status s = note::GenerateKey(origin, &plan.key);
  if (!s.ok()) {
    fmt::print(stderr,
               "ledgerctl {}: the checkpoint origin \"{}\" is not a key name (no spaces, no '+'): give "
               "--origin\n",
               command, origin);
    return std::nullopt;
  }
  plan.generated = true;
  return plan;
}

bool WriteCheckpointKeyFiles(const std::string& dir, const CheckpointKeyPlan& plan, const char* command) {
  return !plan.generated || WriteKeyFiles(SignerKeyPath(dir), VerifierKeyPath(dir), plan.key, command);
}

void PrintCheckpointKey(const std::string& dir, const CheckpointKeyPlan& plan) {
  fmt::print("checkpoint origin {}, verifier key {}\n", plan.key.name,
             note::FormatVerifierKey(note::VerifierOf(plan.key)));
  if (plan.generated) {
    fmt::print("signer key {} (keep it private); verifier key {} (give it to auditors)\n", SignerKeyPath(dir),
               VerifierKeyPath(dir));
  }
}

int AdoptCheckpointKey(const std::string& dir, const CheckpointKeyPlan& plan, const char* command) {
  int code = kExitOk;
  auto l = OpenOrReport(dir, command, &code);
  if (!l) return code;
  note::Verifier existing;
  if (l->CheckpointKey(&existing).ok()) {
    fmt::print(stderr, "ledgerctl {}: the ledger already has the checkpoint key {}: it is set once\n", command,
               note::FormatVerifierKey(existing));
    return kExitCannot;
  }
  if (!WriteCheckpointKeyFiles(dir, plan, command)) return kExitCannot;
  Status s = l->SetCheckpointKey(note::VerifierOf(plan.key), fmt::format("ledgerctl {}", command));
  if (!s.ok()) return Fail(command, s, {"key"});
  PrintCheckpointKey(dir, plan);
  fmt::print("recorded in the log at seq {} (checkpointKeySet)\n", l->head_seq());
  return kExitOk;
}

const char* const kSetkeyUsage =
    "usage: ledgerctl setkey --dir D [--origin NAME | --key SIGNER_KEY_FILE]\n\n"
    "Gives a ledger made before checkpoints existed its checkpoint key, as init does for a new\n"
    "one: without --key, makes an Ed25519 key pair named NAME (default benefit-ledger/<name of D>)\n"
    "and writes the signer key to D/checkpoint.key (mode 0600) and the verifier key to\n"
    "D/checkpoint.pub; with --key, adopts that signer key (made by ledgerctl keygen, kept where\n"
    "you keep it; pass it to ledgerctl checkpoint --key). The origin of the checkpoints is the\n"
    "key's name. The ledger records the origin and the verifier key in its log (a checkpointKeySet\n"
    "entry) and in meta; it is set once: a ledger made by init has its key in its genesis entry.\n";

int RunSetkey(const Flags& flags, const Positional&) {
  auto dir = Required(flags, "dir", "setkey");
  auto plan = dir ? PlanCheckpointKey(flags, *dir, "setkey") : std::nullopt;
  if (!plan) return kExitCannot;
  return AdoptCheckpointKey(*dir, *plan, "setkey");
}

// ---- keygen -------------------------------------------------------------------------------------------------

const char* const kKeygenUsage =
    "usage: ledgerctl keygen --name N --out PREFIX\n\n"
    "Makes an Ed25519 key pair named N and writes the signer key to PREFIX.key (mode 0600: it\n"
    "signs; keep it private) and the verifier key to PREFIX.pub (give it to whoever checks), in\n"
    "the text formats of c2sp.org/signed-note. Neither file may exist. For a ledger's checkpoint\n"
    "key (init --key, setkey --key) or an actor's key for signed events (ledgerctl sign).\n"
    "N: no spaces, no '+'.\n";

int RunKeygen(const Flags& flags, const Positional&) {
  auto name = Required(flags, "name", "keygen");
  auto prefix = name ? Required(flags, "out", "keygen") : std::nullopt;
  if (!prefix) return kExitCannot;
  note::KeyPair key;
  Status s = note::GenerateKey(*name, &key);
  if (!s.ok()) return Fail("keygen", Status::Invalid("--name", s.reason()));
  if (!WriteKeyFiles(*prefix + ".key", *prefix + ".pub", key, "keygen")) return kExitCannot;
  fmt::print("wrote {}.key (signer key: keep it private) and {}.pub: {}\n", *prefix, *prefix,
             note::FormatVerifierKey(note::VerifierOf(key)));
  return kExitOk;
}

// ---- checkpoint ---------------------------------------------------------------------------------------------

namespace {

const char* const kCheckpoint = "checkpoint";

int ListCheckpoints(Source& l, Format format) {
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::CheckpointList>();
  Status s = l.ListCheckpoints(result);
  if (!s.ok()) return Fail(kCheckpoint, s);
  if (IsJson(format)) return PrintResult(result.asReader(), format), kExitOk;
  if (result.getCheckpoints().size() == 0 && format == Format::kTable) {
    fmt::print("no checkpoints yet (make one with ledgerctl checkpoint --dir D)\n");
    return kExitOk;
  }
  Report report({"size", "root", "households", "heads root", "last entry recorded at"});
  auto base64 = [](capnp::Data::Reader d) { return note::Base64({d.begin(), d.size()}); };
  for (auto row : result.asReader().getCheckpoints()) {
    report.Row({std::to_string(row.getSize()), base64(row.getRootHash()), std::to_string(row.getHouseholds()),
                base64(row.getHeadsRoot()), std::string(row.getLastEntryRecordedAt())},
               {true, false, true, false, false});
  }
  report.Print(format);
  return kExitOk;
}

}  // namespace

const char* const kCheckpointUsage =
    "usage: ledgerctl checkpoint --dir D [--key SIGNER_KEY_FILE]\n"
    "       ledgerctl checkpoint --dir D --list yes [--format table|json|jsonl|csv]\n\n"
    "Makes a checkpoint of the ledger's head: a c2sp.org/tlog-checkpoint signed note of the\n"
    "origin, the number of entries (the tree size), the base64 RFC 6962 root of the entries'\n"
    "Merkle tree, and the line \"households <count> <base64 root>\" committing to every\n"
    "household's head (version, last seq, last entry hash) at that size; signs it with the\n"
    "checkpoint key (D/checkpoint.key, or --key), stores it, and prints the note. A checkpoint\n"
    "of a size made before is printed again, not made twice. Publish the notes (or hand them to\n"
    "auditors): proofs are checked against them (ledgerctl prove, ledgerctl verify-proof).\n"
    "--list yes lists the stored checkpoints: size, root, households, heads root and when the\n"
    "last entry they cover was recorded (in --format json and jsonl, the roots in hex). A ledger\n"
    "made before checkpoints needs a key first: ledgerctl setkey --dir D. With --server, ledgerd\n"
    "signs with its own key (ledgerd --checkpoint-key) and only administrators may make one.\n";

int RunCheckpoint(const Flags& flags, const Positional&) {
  auto dir = Required(flags, "dir", kCheckpoint);
  Format format = Format::kTable;
  if (!dir) return kExitCannot;
  if (flags.count("format") && (!flags.count("list") || !ParseFormat(flags.at("format"), &format))) {
    fmt::print(stderr, "ledgerctl checkpoint: --format goes with --list yes, and is {}\n", kFormats);
    return kExitCannot;
  }
  bool list = flags.count("list") && flags.at("list") != "no";
  if (HasServer() && flags.count("key") && !list) {
    fmt::print(stderr,
               "ledgerctl checkpoint: --key is not for --server: ledgerd signs with its own key "
               "(ledgerd --checkpoint-key)\n");
    return kExitCannot;
  }
  int code = kExitOk;
  auto l = OpenSource(*dir, kCheckpoint, &code, list ? Access::kReading : Access::kWriting);
  if (!l) return code;
  if (list) return ListCheckpoints(*l, format);
  note::Verifier ledger_key;
  Status s = l->CheckpointKey(&ledger_key);
  if (!s.ok()) {
    bool none = s.code() == Status::Code::kNotFound;
    fmt::print(stderr, "ledgerctl checkpoint: {}{}\n", s.ToString(),
               none ? ": add one with ledgerctl setkey --dir D" : "");
    return kExitCannot;
  }
  note::KeyPair key;  // With --server, none here: ledgerd signs.
  std::string key_path = flags.count("key") ? flags.at("key") : SignerKeyPath(*dir);
  if (!HasServer() && !ReadSignerKeyFile(key_path, &key, kCheckpoint)) return kExitCannot;
  evidence::SignedCheckpoint cp;
  bool made = false;
  s = l->MakeCheckpoint(HasServer() ? nullptr : &key, &cp, &made);
  if (!s.ok()) return Fail(kCheckpoint, s, {"key"});
  fmt::print("{}", cp.note);
  fflush(stdout);
  fmt::print(stderr, "{} checkpoint of size {} ({})\n", made ? "made and stored the" : "already stored: the",
             cp.checkpoint.tree_size, ledger::Counted(cp.heads.count, "household", "households"));
  return kExitOk;
}

// ---- prove --------------------------------------------------------------------------------------------------

namespace {

// The library's failure as prove words it: where checkpoints are made and listed, and --from
// against --to.
Status ProveFailure(const Status& s, const std::string& what, std::optional<uint64_t> size,
                    std::optional<uint64_t> to) {
  if (what == "household" && s.code() == Status::Code::kNotFound && s.field() == "size") {
    const char* hint =
        size ? " (ledgerctl checkpoint --dir D --list yes lists them)" : ": make one with ledgerctl checkpoint --dir D";
    return Status::NotFound(s.reason() + hint, s.field());
  }
  if (what == "consistency" && s.field() == "size1" && to) {
    return Status::Invalid(s.field(), fmt::format("must not exceed --to ({})", *to));
  }
  return s;
}

}  // namespace

const char* const kProveUsage =
    "usage: ledgerctl prove inclusion --dir D --seq N [--size M]\n"
    "       ledgerctl prove consistency --dir D --from M1 --to M2\n"
    "       ledgerctl prove household --dir D --household H [--size M]\n\n"
    "Prints a proof as JSON, hashes and entry bytes in base64, for ledgerctl verify-proof.\n"
    "inclusion: entry seq N is leaf N-1 (leafIdx = seq - 1) of the RFC 6962 tree of the first M\n"
    "entries (default: all): {\"type\":\"inclusion\", \"seq\", \"leafIdx\", \"treeSize\", \"root\",\n"
    "\"leafHash\", \"entry\" (its bytes: the leaf hash is SHA-256(0x00 || entry)), \"proof\"}.\n"
    "consistency: the tree of M2 entries extends the tree of M1: {\"type\":\"consistency\",\n"
    "\"size1\", \"size2\", \"root1\", \"root2\", \"proof\"}.\n"
    "household: everything needed to check offline that the entries shown are all of household\n"
    "H's entries up to the checkpoint of size M (a stored checkpoint; default the latest): H's\n"
    "head in the checkpoint's signed household heads map with its neighbours, and each entry of\n"
    "H with its inclusion proof. For a household not in the map, the neighbours show it absent.\n"
    "Exit 1 if the seq, size or checkpoint does not exist.\n";

int RunProve(const Flags& flags, const Positional& positional) {
  const char* command = "prove";
  std::string what = positional.size() == 1 ? positional[0] : "";
  if (what != "inclusion" && what != "consistency" && what != "household") {
    fmt::print(stderr, "ledgerctl prove: say inclusion, consistency or household (see ledgerctl prove --help)\n");
    return kExitCannot;
  }
  auto dir = Required(flags, "dir", command);
  if (!dir) return kExitCannot;
  bool ok = true;
  auto size = OptionalCount(flags, "size", command, &ok);
  auto seq = what == "inclusion" ? OptionalCount(flags, "seq", command, &ok) : std::nullopt;
  auto from = what == "consistency" ? OptionalCount(flags, "from", command, &ok) : std::nullopt;
  auto to = what == "consistency" ? OptionalCount(flags, "to", command, &ok) : std::nullopt;
  bool complete = (what != "inclusion" || Required(flags, "seq", command)) &&
                  (what != "consistency" || (Required(flags, "from", command) && Required(flags, "to", command))) &&
                  (what != "household" || Required(flags, "household", command));
  if (!ok || !complete) return kExitCannot;
  int code = kExitOk;
  auto l = OpenSource(*dir, command, &code, Access::kReading);
  if (!l) return code;
  evidence::Proof proof;
  Status s = what == "inclusion"     ? l->ProveInclusion(*seq, size, &proof)
             : what == "consistency" ? l->ProveConsistency(*from, *to, &proof)
                                     : l->ProveHousehold(flags.at("household"), size, &proof);
  if (!s.ok())
    return Fail(command, ProveFailure(s, what, size, to), {"seq", "size", "size1=from", "size2=to", "household"});
  fmt::print("{}", evidence::ProofToJson(proof));
  return kExitOk;
}

// ---- verify-proof -------------------------------------------------------------------------------------------

const char* const kVerifyProofUsage =
    "usage: ledgerctl verify-proof FILE [--checkpoint NOTE --key PUBKEY] [--format table|json|jsonl]\n\n"
    "Checks a proof made by ledgerctl prove, with no ledger: an inclusion proof (the entry's hash\n"
    "is a leaf of the tree with that root; leafIdx = seq - 1), a consistency proof (the larger\n"
    "tree extends the smaller), or a household proof (the entries are all of the household's\n"
    "entries up to the checkpoint: in the log, of the household, chained from its first entry to\n"
    "the head in the signed heads map, as many as its version; the head is in that map once).\n"
    "With --checkpoint NOTE (a checkpoint note the office published) and --key PUBKEY (its\n"
    "verifier key, e.g. D/checkpoint.pub), also checks the note's signature and origin (the\n"
    "key's name) and that the proof's size and root are the signed ones (for a consistency\n"
    "proof: those of either end). A household proof needs --checkpoint: the root of the heads\n"
    "map is in the note. Prints \"valid: ...\" and exits 0, or \"invalid: ...\" with the field and\n"
    "the reason and exits 1; exits 2 if a file cannot be read or is not a proof or a key.\n"
    "Proofs in the shape of other RFC 6962 tooling are read too: without \"type\" (inferred from\n"
    "leafIdx, size1 or household), \"proof\": null for an empty proof, and the test vectors'\n"
    "\"desc\" and \"wantErr\" (echoed after the result, never checked).\n"
    "--format json prints the answer as one JSON object (valid, summary, problem, the checkpoint's\n"
    "origin and size, the vector's desc and expectation), jsonl as one line.\n";

namespace {

const char* const kVerifyProof = "verify-proof";

// "; the vector (happy path) expects: valid" for a proof in the test vectors' shape, else "".
std::string VectorNote(const evidence::Proof& proof) {
  if (!proof.want_error && proof.description.empty()) return "";
  std::string desc = proof.description.empty() ? "" : fmt::format(" ({})", proof.description);
  std::string want = !proof.want_error ? "" : *proof.want_error ? " expects: invalid" : " expects: valid";
  return fmt::format("; the vector{}{}", desc, want);
}

// Reads and parses the proof file; prints why and returns false if it cannot.
bool LoadProof(const std::string& path, evidence::Proof* proof) {
  std::string text;
  if (!ReadFile(path, kMaxProofBytes, &text, kVerifyProof)) return false;
  Status s = evidence::ParseProof(text, proof);
  if (!s.ok()) fmt::print(stderr, "ledgerctl verify-proof: {} is not a proof: {}\n", path, s.ToString());
  return s.ok();
}

// Reads --key and --checkpoint and opens the note: kExitOk; kExitCannot after saying why; or
// kExitNo with *invalid saying why (a note that does not open with the key is invalid evidence).
int LoadCheckpoint(const Flags& flags, evidence::SignedCheckpoint* checkpoint, Status* invalid) {
  note::Verifier key;
  std::string note_text;
  if (!ReadVerifierKeyFile(flags.at("key"), &key, kVerifyProof)) return kExitCannot;
  if (!ReadFile(flags.at("checkpoint"), note::kMaxNoteBytes, &note_text, kVerifyProof)) return kExitCannot;
  Status s = evidence::OpenCheckpoint(note_text, key, checkpoint);
  if (s.ok()) return kExitOk;
  *invalid = Status::Invalid("", "the checkpoint does not verify with the key: " + s.ToString());
  return kExitNo;
}

// The answer: "valid: …" or "invalid: …", or the result record.
void PrintProofCheck(const Status& check, const std::string& summary, const evidence::Proof* proof,
                     const evidence::SignedCheckpoint* checkpoint, Format format) {
  if (IsJson(format)) {
    capnp::MallocMessageBuilder message;
    auto result = message.initRoot<ledger::results::ProofCheckResult>();
    ledger::results::BuildProofCheck(check, summary, proof, checkpoint, result);
    return PrintResult(result.asReader(), format);
  }
  if (!check.ok()) return fmt::print("invalid: {}{}\n", check.ToString(), VectorNote(*proof));
  fmt::print("valid: {}{}{}\n", summary,
             checkpoint ? fmt::format("; signed by {} at size {}", checkpoint->checkpoint.origin,
                                      checkpoint->checkpoint.tree_size)
                        : "; not checked against a signed checkpoint (give --checkpoint and --key)",
             VectorNote(*proof));
}

}  // namespace

int RunVerifyProof(const Flags& flags, const Positional& positional) {
  if (positional.size() != 1) {
    fmt::print(stderr, "ledgerctl verify-proof: give one proof file (see ledgerctl verify-proof --help)\n");
    return kExitCannot;
  }
  if (flags.count("checkpoint") != flags.count("key")) {
    fmt::print(stderr, "ledgerctl verify-proof: --checkpoint and --key go together\n");
    return kExitCannot;
  }
  Format format = Format::kTable;
  if (flags.count("format") && (!ParseFormat(flags.at("format"), &format) || format == Format::kCsv)) {
    fmt::print(stderr, "ledgerctl verify-proof: --format is table, json or jsonl\n");
    return kExitCannot;
  }
  evidence::Proof proof;
  if (!LoadProof(positional[0], &proof)) return kExitCannot;
  std::optional<evidence::SignedCheckpoint> checkpoint;
  if (flags.count("checkpoint")) {
    Status invalid;
    int code = LoadCheckpoint(flags, &checkpoint.emplace(), &invalid);
    if (code == kExitNo) PrintProofCheck(invalid, "", &proof, nullptr, format);
    if (code != kExitOk) return code;
  } else if (proof.type == evidence::ProofType::kHousehold) {
    fmt::print(stderr,
               "ledgerctl verify-proof: a household proof needs --checkpoint NOTE --key PUBKEY (the root of "
               "the household heads map it is checked against is in the signed note)\n");
    return kExitCannot;
  }
  std::string summary;
  Status s = evidence::CheckProof(proof, checkpoint ? &*checkpoint : nullptr, &summary);
  PrintProofCheck(s, summary, &proof, checkpoint ? &*checkpoint : nullptr, format);
  return s.ok() ? kExitOk : kExitNo;
}

}  // namespace tools
