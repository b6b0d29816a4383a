// The web console's evidence routes (issue 17; README "Web console"), apart from console.cc:
//   GET  /api/household-proof?id=H  the household-completeness proof at the latest stored
//        checkpoint with that signed note and the ledger's verifier key, as a tar archive for
//        `ledgerctl verify-proof` offline (scoped as RPC's proveHousehold);
//   GET  /api/checkpoints           the stored checkpoints (every caller, as RPC's checkpoints);
//   POST /api/verify                starts a full verify on a reader, one at a time per server
//        (auditors, inspectors, administrators, as RPC's verify); 409 while one runs;
//   GET  /api/verify                the running or last finished verify: progress and result;
//   GET  /api/trace.csv?... (.xlsx) the red flags of /api/trace (same query), every row, as CSV
//        (UTF-8 with a BOM) or an Excel workbook.
// console.cc checks the session and the CSRF header of POSTs before it hands a request here.
// Used on the event loop's thread only (the verify's progress comes from its reader, atomically).
#pragma once

#include <kj/async.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "console.h"

namespace ledgerd {

// An answer for console.cc to send: an error Status (sent as its other API errors are), or
// `code` with `body`.
struct ConsoleAnswer {
  ledger::Status error;
  unsigned code = 200;
  const char* text = "OK";
  std::string type = "application/json", body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class ConsoleEvidence final : private kj::TaskSet::ErrorHandler {
 public:
  explicit ConsoleEvidence(ConsoleRead read);
  ~ConsoleEvidence();

  // The answer to /api/`name` from `actor` if `name` is one of these routes; nullopt if not.
  std::optional<kj::Promise<ConsoleAnswer>> Route(bool post, const std::string& name,
                                                  const std::map<std::string, std::string>& params,
                                                  const std::string& actor);

  struct VerifyState;  // console_evidence.cc

 private:
  kj::Promise<ConsoleAnswer> StartVerify(const std::string& actor);
  kj::Promise<ConsoleAnswer> TraceExportAnswer(const std::map<std::string, std::string>& params, bool xlsx,
                                               const std::string& actor);
  ConsoleAnswer VerifyStatus(unsigned code, const char* text) const;
  void taskFailed(kj::Exception&&) override {}  // The verify's own catch_ records what failed.

  ConsoleRead read_;
  std::shared_ptr<VerifyState> last_;  // The running or last verify; null before the first.
  uint64_t runs_ = 0;
  kj::TaskSet tasks_;  // The verify running in the background.
};

}  // namespace ledgerd
