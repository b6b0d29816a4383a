// ledgerctl sign: an actor signs events with its own key before they are appended (see
// benefit_ledger/events.h and docs/SIGNED_APPROVALS.md). Needs no ledger: it runs where the key is.

#include <capnp/message.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/format.h"
#include "commands.h"
#include "line_reader.h"

namespace tools {
namespace {

using ledger::Status;

const char* const kCommand = "sign";
constexpr size_t kMaxLineBytes = 1 << 20;
// The signed lines are held until every line is signed (nothing is written otherwise): a bound.
constexpr size_t kMaxInputBytes = 64 << 20;

// Signs one line; sets *json to the signed event and *event_id to its id (if it has one).
Status SignLine(const std::string& text, const ledger::note::KeyPair& key, std::string* json, std::string* event_id) {
  size_t bad = 0;
  if (!ledger::IsValidUtf8(text, &bad)) {
    return Status::Invalid("", fmt::format("not UTF-8 text (bad byte at offset {})", bad));
  }
  capnp::MallocMessageBuilder message;
  Status s = ledger::ParseEventJson(text, &message, event_id);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 if (s.ok()) s = ledger::signing::SignEvent(&message, key);
                 if (s.ok()) *json = ledger::EventToJson(message.getRoot<ledger::schema::Event>().asReader());
               })) {
    s = Status::Invalid("", std::string("cannot read the event: ") + e->getDescription().cStr());
  }
  if (!ledger::IsValidId(*event_id)) event_id->clear();  // Not echoed: the error may be about it.
  return s;
}

// Opens FILE, "-" or (none) standard input; -1 after saying why.
int OpenInput(const Positional& positional) {
  if (positional.size() > 1) {
    fmt::print(stderr, "ledgerctl sign: give at most one input file (or - for standard input)\n");
    return -1;
  }
  if (positional.empty() || positional[0] == "-") return 0;
  int fd = ::open(positional[0].c_str(), O_RDONLY);
  if (fd < 0) fmt::print(stderr, "ledgerctl sign: cannot read {}: {}\n", positional[0], strerror(errno));
  return fd;
}

struct Signed {
  std::vector<std::string> lines;  // The signed events, in input order.
  size_t refused = 0;
  size_t input_bytes = 0;
};

// Signs one input line into `out`, or names it on standard error as refused.
void SignOrRefuse(LineReader::Result r, const std::string& text, size_t line, const ledger::note::KeyPair& key,
                  Signed* out) {
  std::string json, event_id;
  Status s = r == LineReader::Result::kTooLong
                 ? Status::Invalid("", fmt::format("line longer than {} bytes", kMaxLineBytes))
                 : SignLine(text, key, &json, &event_id);
  if (s.ok()) return out->lines.push_back(std::move(json));
  ++out->refused;
  std::string id = event_id.empty() ? "" : fmt::format(" ({})", event_id);
  fmt::print(stderr, "ledgerctl sign: line {}{}: {}\n", line, id, ForCommandLine(s.ToString()));
}

// Signs every line of `reader` (blank lines are skipped). False if the input could not be read
// or is too large.
bool SignAll(LineReader* reader, const ledger::note::KeyPair& key, Signed* out) {
  std::string text;
  for (;;) {
    auto r = reader->Next(&text);
    if (r == LineReader::Result::kEnd) return true;
    if (r == LineReader::Result::kError) {
      fmt::print(stderr, "ledgerctl sign: reading input: {}\n", strerror(errno));
      return false;
    }
    if (r == LineReader::Result::kLine) out->input_bytes += text.size() + 1;  // Too-long lines are not kept.
    if (out->input_bytes > kMaxInputBytes) {
      fmt::print(stderr, "ledgerctl sign: input larger than {} bytes: sign it in parts\n", kMaxInputBytes);
      return false;
    }
    bool blank = r == LineReader::Result::kLine && text.find_first_not_of(" \t") == std::string::npos;
    if (!blank) SignOrRefuse(r, text, reader->line_number(), key, out);
  }
}

}  // namespace

const char* const kSignUsage =
    "usage: ledgerctl sign --key ACTOR.key [FILE|-]\n\n"
    "Signs events for an actor whose public key the ledger holds (actorRegistered or actorKeySet;\n"
    "docs/SIGNED_APPROVALS.md). Reads events as JSON Lines from FILE (or standard input) and writes\n"
    "each back, one line each, with \"actorSignature\" set: the actor's Ed25519 signature over the\n"
    "event as the ledger will store it. Give the output to ledgerctl append. ACTOR.key is the\n"
    "signer key ledgerctl keygen wrote; it must be named after the events' actorId. Only approvals,\n"
    "rejections, payment rolls and corrections are signed, and a signed event cannot hold an\n"
    "identity or card number (a card on file may be named by keyedHash and masked). Needs no\n"
    "ledger. If a line cannot be signed, each such line is named on standard error and nothing is\n"
    "written. Exit 0 if every line was signed, 1 if any was refused, 2 if the key or the input\n"
    "could not be read.\n";

int RunSign(const Flags& flags, const Positional& positional) {
  auto key_path = Required(flags, "key", kCommand);
  if (!key_path) return kExitCannot;
  ledger::note::KeyPair key;
  if (!ReadSignerKeyFile(*key_path, &key, kCommand)) return kExitCannot;
  int fd = OpenInput(positional);
  if (fd < 0) return kExitCannot;
  LineReader reader(fd, kMaxLineBytes);
  Signed result;
  bool read = SignAll(&reader, key, &result);
  if (fd > 0) ::close(fd);
  if (!read) return kExitCannot;
  if (result.refused > 0) {
    fmt::print(stderr, "ledgerctl sign: {} line(s) refused; nothing written\n", result.refused);
    return kExitNo;
  }
  for (const auto& line : result.lines) fmt::print("{}\n", line);
  fmt::print(stderr, "ledgerctl sign: {} event(s) signed by {}\n", result.lines.size(), key.name);
  return kExitOk;
}

}  // namespace tools
