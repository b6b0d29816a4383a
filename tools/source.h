// Where ledgerctl's commands read and append: a ledger opened in this process (--dir D), or a
// ledgerd server (--server HOST:PORT --credential A.cred, tools/ledgerd/client.h). Source has
// the Ledger methods those commands call, with the same signatures, so a command is written once
// and prints the same either way. Used from one thread.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "benefit_ledger/ledger.h"
#include "cli.h"

namespace tools {

class Source {
 public:
  virtual ~Source() = default;
  virtual uint64_t head_seq() = 0;
  virtual ledger::Status SubmitGroup(std::span<capnp::MessageBuilder* const> events, ledger::GroupMode mode,
                                     ledger::Ledger::GroupDone done) = 0;
  virtual ledger::Status FlushGroups() = 0;
  virtual ledger::Status ShowEntry(uint64_t seq, std::string* json) = 0;
  virtual ledger::Status ReplayHousehold(std::string_view household, const ledger::ReplayOptions& options,
                                         const std::function<void(const ledger::ReplayStepView&)>& visit,
                                         ledger::results::ReplayResult::Builder out, std::string* state_on_date) = 0;
  virtual ledger::Status Verify(ledger::results::VerifyResult::Builder out) = 0;
  virtual ledger::Status Roll(const ledger::ReportFilter& filter, uint32_t as_of,
                              ledger::results::RollResult::Builder out) = 0;
  virtual ledger::Status Reviews(const ledger::ReportFilter& filter, uint32_t as_of, uint32_t due_by,
                                 ledger::results::RollResult::Builder out) = 0;
  virtual ledger::Status Totals(const ledger::ReportFilter& filter, uint32_t from_period, uint32_t to_period,
                                ledger::results::TotalsResult::Builder out) = 0;
  virtual ledger::Status Trace(ledger::results::TraceScope scope, std::string_view asked,
                               ledger::results::TraceResult::Builder out) = 0;
  virtual ledger::Status Recoveries(const ledger::ReportFilter& filter, std::string_view household,
                                    ledger::results::RecoveriesResult::Builder out) = 0;
};

// A ledger open in this process.
std::unique_ptr<Source> LocalSource(std::unique_ptr<ledger::Ledger> ledger);

// --server and --credential, given before the command (ledgerctl --server H:P --credential F CMD).
void SetServer(std::string host_port, std::string credential);
bool HasServer();

// The server if one was given (connected now), else the ledger at `dir` (OpenOrReport). Null,
// with *exit_code set and the reason printed, if neither can be used.
// `access` as OpenOrReport's.
std::unique_ptr<Source> OpenSource(const std::string& dir, const char* command, int* exit_code,
                                   Access access = Access::kWriting);

}  // namespace tools
