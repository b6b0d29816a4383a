#include "cli.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "benefit_ledger/format.h"
#include "source.h"

namespace tools {

using ledger::Status;

std::optional<std::string> Required(const Flags& flags, const char* name, const char* command) {
  if (std::string_view(name) == "dir" && HasServer()) return std::string();  // The server has the ledger.
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) {
    fmt::print(stderr, "ledgerctl {}: --{} is required (see ledgerctl {} --help)\n", command, name, command);
    return std::nullopt;
  }
  return it->second;
}

std::optional<uint64_t> ParseCount(const std::string& text, const char* flag, const char* command, uint64_t max) {
  uint64_t v = 0;
  bool ok = !text.empty() && text.size() <= 19 && text.find_first_not_of("0123456789") == std::string::npos;
  if (ok) v = std::stoull(text);
  if (!ok || v == 0 || v > max) {
    fmt::print(stderr, "ledgerctl {}: --{} must be a whole number from 1 to {}, not \"{}\"\n", command, flag, max,
               text);
    return std::nullopt;
  }
  return v;
}

Status AsOption(const Status& s, std::initializer_list<std::string_view> options) {
  for (std::string_view option : options) {
    size_t eq = option.find('=');
    if (option.substr(0, eq) != s.field()) continue;
    std::string flag = "--" + std::string(eq == std::string_view::npos ? option : option.substr(eq + 1));
    switch (s.code()) {
      case Status::Code::kInvalidArgument: return Status::Invalid(flag, s.reason());
      case Status::Code::kNotFound: return Status::NotFound(s.reason(), flag);
      case Status::Code::kConflict: return Status::Conflict(flag, s.reason());
      default: return s;  // The other codes carry no field.
    }
  }
  return s;
}

namespace {
std::string ledger_dir = "D";  // SetLedgerDir
}  // namespace

void SetLedgerDir(std::string dir) {
  ledger_dir = dir.empty() ? "D" : std::move(dir);
}

std::string ForCommandLine(std::string_view text) {
  // Longest first: one name may begin another.
  const std::pair<std::string, std::string> kCommands[] = {
      {"Ledger::Create, SetCheckpointKey, Upgrade", "ledgerctl init, setkey, upgrade"},
      {"Ledger::Create", "ledgerctl init --dir " + ledger_dir},
      {"Ledger::Upgrade", "ledgerctl upgrade --dir " + ledger_dir},
      {"Ledger::Rebuild", "ledgerctl rebuild --dir " + ledger_dir},
      {"Ledger::Verify", "ledgerctl verify --dir " + ledger_dir},
      {"signing::SignEvent", "ledgerctl sign"},
      {"note::FormatVerifierKey writes", "ledgerctl keygen writes"},
  };
  std::string out(text);
  for (const auto& [api, command] : kCommands) {
    for (size_t at = out.find(api); at != std::string::npos; at = out.find(api, at + command.size())) {
      out.replace(at, api.size(), command);
    }
  }
  return out;
}

int Fail(const char* command, const Status& s, std::initializer_list<std::string_view> options) {
  fmt::print(stderr, "ledgerctl {}: {}\n", command, ForCommandLine(AsOption(s, options).ToString()));
  bool no = s.code() == Status::Code::kNotFound || s.code() == Status::Code::kCorruption;
  return no ? kExitNo : kExitCannot;
}

std::unique_ptr<ledger::Ledger> OpenOrReport(const std::string& dir, const char* command, int* exit_code,
                                             Access access) {
  std::unique_ptr<ledger::Ledger> l;
  Status s = ledger::Ledger::Open(dir, &l);
  if (s.code() == Status::Code::kBusy && access == Access::kReading && ledger::Ledger::OpenReadOnly(dir, &l).ok()) {
    fmt::print(stderr,
               "ledgerctl {}: {} is held by another process (ledgerd, or an append): reading it read-only as of "
               "entry {}, its holder's last durable write at this command's start; later appends are not seen\n",
               command, dir, l->head_seq());
    s = Status::Ok();
  }
  if (!s.ok()) {
    fmt::print(stderr, "ledgerctl {}: {}\n", command, ForCommandLine(s.ToString()));
    *exit_code = kExitCannot;
  } else if (!l->identity_error().ok()) {
    // Readable, but not what its log says it is: every command says so, appends are refused.
    fmt::print(stderr, "ledgerctl {}: WARNING: {}\n", command, ForCommandLine(l->identity_error().ToString()));
  }
  return l;
}

std::optional<uint32_t> ParseDateFlag(const Flags& flags, const char* name, const char* command, uint32_t fallback,
                                      bool month) {
  if (!flags.count(name)) return fallback;
  const std::string& text = flags.at(name);
  uint32_t v = 0;
  bool digits = text.size() == (month ? 6u : 8u) && text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) v = static_cast<uint32_t>(std::stoul(text));
  if (!digits || !(month ? ledger::IsValidPeriod(v) : ledger::IsValidDate(v))) {
    fmt::print(stderr, "ledgerctl {}: --{} must be a {} ({}), not \"{}\"\n", command, name, month ? "month" : "date",
               month ? "YYYYMM" : "YYYYMMDD", text);
    return std::nullopt;
  }
  return v;
}

uint32_t Today() {
  return ledger::TodayUtc();
}

bool ReadFile(const std::string& path, size_t max_bytes, std::string* out, const char* command) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    fmt::print(stderr, "ledgerctl {}: cannot read {}: {}\n", command, path, strerror(errno));
    return false;
  }
  out->clear();
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out->size() <= max_bytes) out->append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0 || out->size() > max_bytes) {
    fmt::print(stderr, "ledgerctl {}: {}: {}\n", command, path, n < 0 ? strerror(errno) : "file too large");
    return false;
  }
  return true;
}

namespace {

// A key file's text without its final line break.
bool ReadKeyText(const std::string& path, std::string* text, const char* command) {
  constexpr size_t kMaxKeyFileBytes = 4096;  // A key text is under 200 bytes.
  if (!ReadFile(path, kMaxKeyFileBytes, text, command)) return false;
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
  return true;
}

}  // namespace

bool ReadSignerKeyFile(const std::string& path, ledger::note::KeyPair* key, const char* command) {
  std::string text;
  if (!ReadKeyText(path, &text, command)) return false;
  Status s = ledger::note::ParseSignerKey(text, key);
  if (!s.ok()) fmt::print(stderr, "ledgerctl {}: {} is not a signer key: {}\n", command, path, s.ToString());
  return s.ok();
}

bool ReadVerifierKeyFile(const std::string& path, ledger::note::Verifier* key, const char* command) {
  std::string text;
  if (!ReadKeyText(path, &text, command)) return false;
  Status s = ledger::note::ParseVerifierKey(text, key);
  if (!s.ok()) fmt::print(stderr, "ledgerctl {}: {} is not a verifier key: {}\n", command, path, s.ToString());
  return s.ok();
}

bool WriteFileAtomically(const std::string& path, const std::string& text, const char* command, int mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  bool ok = fd >= 0;
  for (size_t done = 0; ok && done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    ok = n > 0;
    done += ok ? static_cast<size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    fmt::print(stderr, "ledgerctl {}: cannot write {}: {}\n", command, path, strerror(errno));
    ::unlink(tmp.c_str());
  }
  return ok;
}

}  // namespace tools
