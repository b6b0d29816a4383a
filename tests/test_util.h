// Helpers shared by the tests: temporary ledgers, appending JSON lines, running ledgerctl. The
// event builders they share with the generators are in testing/events.h (included here).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ledger/core/log.h"
#include "testing/events.h"  // The event builders and IdentityNumber, for every test.

namespace testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Lines of a file in tests/data.
std::vector<std::string> ReadDataLines(const std::string& name);

// Creates a ledger at `dir` and opens it; fails the test on error. The default policy is
// record: most tests are about the core, with histories that do not follow every domain rule.
std::unique_ptr<ledger::Log> NewLedger(const std::string& dir, ledger::Policy policy = ledger::Policy::kRecord);
std::unique_ptr<ledger::Log> OpenLedger(const std::string& dir);

// Parses and appends `lines` as one group. A line that does not parse gets a rejected result
// carrying the parse error.
std::vector<ledger::AppendResult> AppendLines(ledger::Log* l, const std::vector<std::string>& lines);
ledger::AppendResult AppendLine(ledger::Log* l, const std::string& line);

struct RunResult {
  int exit_code = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};
// Runs ledgerctl with `args`, feeding `input` on standard input. With `stdout_path` (a file, or
// /dev/full), standard output goes there instead of into RunResult::out.
RunResult RunLedgerctl(const std::vector<std::string>& args, const std::string& input = "",
                       const std::string& stdout_path = "");

// Makes a ledger at `dir` with `ledgerctl init --policy POLICY` and appends `lines` with
// `ledgerctl append`; fails the test unless both succeed. Returns `dir`.
std::string LedgerctlLedger(const std::string& dir, const std::vector<std::string>& lines,
                            const std::string& policy = "enforce");

// The bank's answer to a roll's bank instruction file `roll_csv` (ledgerctl payroll export),
// written to `bank_csv`: its first payment failed ("account closed"), the others settled, and a
// line for `unknown_id`, which the ledger has no payment of. Returns the roll's payments (>= 2).
int WriteBankAnswer(const std::string& roll_csv, const std::string& unknown_id, const std::string& bank_csv);

}  // namespace testing
