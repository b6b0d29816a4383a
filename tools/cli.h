// The small shared pieces of ledgerctl's commands: exit codes, required and dated options,
// opening a ledger, reading a file, reporting a Status. Each command lives in one file
// (ledgerctl.cc, payroll_cmd.cc, evidence_cmd.cc) and uses these, so that every command
// words its errors alike: "ledgerctl COMMAND: field: reason".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/keys.h"
#include "benefit_ledger/ledger.h"
#include "benefit_ledger/status.h"

namespace tools {

// Exit status: 0 all done; 1 the ledger answered "no" (a line rejected, verification failed,
// nothing found); 2 the command could not run (usage, unreadable input, I/O error).
inline constexpr int kExitOk = 0, kExitNo = 1, kExitCannot = 2;

using Flags = std::map<std::string, std::string>;
using Positional = std::vector<std::string>;

// The value of --name; prints why and returns nullopt if absent or empty.
std::optional<std::string> Required(const Flags& flags, const char* name, const char* command);
// A whole number from 1 to max.
std::optional<uint64_t> ParseCount(const std::string& text, const char* flag, const char* command, uint64_t max);
// A YYYYMMDD (or, with `month`, YYYYMM) flag; `fallback` if absent.
std::optional<uint32_t> ParseDateFlag(const Flags& flags, const char* name, const char* command, uint32_t fallback,
                                      bool month = false);
// Today's date (UTC), YYYYMMDD.
uint32_t Today();

// The library names the parameter at fault in a Status's field ("size", "household"); on the
// command line it is an option. `options` lists the parameters the command takes as options:
// "size" (the option --size) or "size2=to" (the option --to). AsOption returns `s` with such a
// field written as the option ("--size"), any other field as it is.
ledger::Status AsOption(const ledger::Status& s, std::initializer_list<std::string_view> options);

// The library's messages name the API operation that helps ("run Ledger::Rebuild"); on the
// command line that is a command ("run ledgerctl rebuild --dir D", D the ledger of the command
// running: SetLedgerDir). Every message the commands print from the library goes through it.
void SetLedgerDir(std::string dir);
std::string ForCommandLine(std::string_view text);

// Prints "ledgerctl COMMAND: status" and returns the exit code: 1 for NotFound and Corruption
// (the ledger's answer is no), 2 otherwise. The field is printed as an option if it is one of
// `options` (AsOption).
int Fail(const char* command, const ledger::Status& s, std::initializer_list<std::string_view> options = {});
// Opens the ledger at `dir`, printing why not (null, *exit_code set) or a warning if it is readable
// but refuses appends. A command that only reads passes kReading: then a ledger that another
// process holds (ledgerd, an append) is opened read-only (Ledger::OpenReadOnly) and the command
// says so on standard error, with how far it reads: the holder's last durable write at the open.
enum class Access { kWriting, kReading };
std::unique_ptr<ledger::Ledger> OpenOrReport(const std::string& dir, const char* command, int* exit_code,
                                             Access access = Access::kWriting);
// Reads a whole file of at most max_bytes; prints why and returns false if it cannot.
bool ReadFile(const std::string& path, size_t max_bytes, std::string* out, const char* command);
// Writes `text` to `path` (with `mode`) through a temporary file renamed into place, synced: a
// reader never sees half a file. Prints why and returns false if it cannot.
bool WriteFileAtomically(const std::string& path, const std::string& text, const char* command, int mode = 0644);
// Reads a signer key file (ledgerctl keygen's PREFIX.key); prints why and returns false if it
// cannot or the text is not a signer key.
bool ReadSignerKeyFile(const std::string& path, ledger::note::KeyPair* key, const char* command);
// Reads a verifier key file (keygen's PREFIX.pub); prints why and returns false if it cannot.
bool ReadVerifierKeyFile(const std::string& path, ledger::note::Verifier* key, const char* command);

}  // namespace tools
