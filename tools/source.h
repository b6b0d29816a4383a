// Where ledgerctl's commands read and append: a ledger opened in this process (--dir D), or a
// ledgerd server (--server HOST:PORT --credential A.cred, tools/ledgerd/client.h). Source has
// the Ledger methods those commands call, with the same signatures where the server allows them,
// so a command is written once and prints the same either way. Used from one thread.
//
// Where the two differ: a server signs checkpoints with its own key (MakeCheckpoint takes none),
// and a bank file is sent to it whole and its results recorded in that one call (Reconcile).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "benefit_ledger/evidence.h"
#include "benefit_ledger/keys.h"
#include "benefit_ledger/ledger.h"
#include "cli.h"

namespace ledgerd {
class Client;
}

namespace tools {

// Recording a bank file's results (ledgerctl reconcile --apply yes): by whom, dated when.
struct BankApply {
  bool apply = false;
  std::string actor;
  uint32_t date = 0;
};

// A bank file matched against the ledger (Source::Reconcile), as Ledger::Reconcile gives it.
class Reconciled {
 public:
  virtual ~Reconciled() = default;
  virtual size_t size() const = 0;
  // Calls `each` with every line's record, in order, one at a time.
  virtual void ForEachLine(const std::function<void(ledger::results::ReconcileLine::Reader)>& each) const = 0;
  // The counts and sums (Reconciliation::Summary).
  virtual void Summary(ledger::results::ReconcileResult::Builder out) const = 0;
  // Records the results as the BankApply given to Reconcile says (Ledger::RecordBankResults);
  // `refused` hears of each result not recorded. A server recorded them in the Reconcile call:
  // then this reports what it recorded.
  virtual ledger::Status Apply(const std::function<void(const ledger::Status&)>& refused,
                               ledger::results::ApplyOutcome::Builder out) = 0;
};

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
  virtual ledger::Status Verify(ledger::results::VerifyResult::Builder out,
                                const ledger::Ledger::VerifyProgress& progress) = 0;
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

  // Payroll. With a server, the key signs here: it never leaves this process.
  virtual ledger::Status IssuePayroll(const ledger::PayrollRequest& request, bool dry_run,
                                      const ledger::note::KeyPair* key, ledger::results::PayrollResult::Builder out,
                                      std::string* refusal) = 0;
  virtual ledger::Status ExportRoll(std::string_view roll_id, ledger::RollFile* out) = 0;

  // Matches `bank` (parsed from `text`, which a ledger here does not need: pass it only with
  // HasServer(), for the server parses its own copy) and, with apply, records its results.
  virtual ledger::Status Reconcile(std::unique_ptr<ledger::BankFile> bank, std::string text,
                                   const std::optional<std::string>& columns, const BankApply& apply,
                                   std::unique_ptr<Reconciled>* out) = 0;

  // Evidence. MakeCheckpoint signs with `key` here; a server signs with its own (key null).
  virtual ledger::Status CheckpointKey(ledger::note::Verifier* key) = 0;
  virtual ledger::Status MakeCheckpoint(const ledger::note::KeyPair* key, ledger::evidence::SignedCheckpoint* out,
                                        bool* made) = 0;
  virtual ledger::Status ListCheckpoints(ledger::results::CheckpointList::Builder out) = 0;
  virtual ledger::Status ProveInclusion(uint64_t seq, std::optional<uint64_t> size, ledger::evidence::Proof* out) = 0;
  virtual ledger::Status ProveConsistency(uint64_t size1, uint64_t size2, ledger::evidence::Proof* out) = 0;
  virtual ledger::Status ProveHousehold(std::string_view household, std::optional<uint64_t> size,
                                        ledger::evidence::Proof* out) = 0;
};

// A ledger open in this process.
std::unique_ptr<Source> LocalSource(std::unique_ptr<ledger::Ledger> ledger);

// --server and --credential, given before the command (ledgerctl --server H:P --credential F CMD).
void SetServer(std::string host_port, std::string credential);
bool HasServer();
// A connection to that server (HasServer()), for the commands that are the server's alone.
ledger::Status ConnectServer(std::unique_ptr<ledgerd::Client>* out);

// The server if one was given (connected now), else the ledger at `dir` (OpenOrReport). Null,
// with *exit_code set and the reason printed, if neither can be used.
// `access` as OpenOrReport's.
std::unique_ptr<Source> OpenSource(const std::string& dir, const char* command, int* exit_code,
                                   Access access = Access::kWriting);

}  // namespace tools
