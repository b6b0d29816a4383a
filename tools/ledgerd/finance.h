// The finance office's reads and writes that RPC (ledgerd.cc) and the web console (console.h) both
// serve: recoveries outstanding, and a bank result file reconciled and, on the writer, recorded.
// Jobs for LedgerServer::Read/Write, so that both paths scope and refuse exactly alike.
#pragma once

#include <capnp/message.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "access.h"

namespace ledgerd {

// The recoveries of `household` (in scope if it is) or, without one, of the filter's region (a
// report's scope): a RecoveriesResult as the root of r->message.
ReadFn RecoveriesJob(ledger::ReportFilter filter, std::string household);

// What reconcile hands back beside its summary (in Reply::message).
struct Reconciled {
  capnp::MallocMessageBuilder lines;    // Root: List(ReconcileLine).
  capnp::MallocMessageBuilder applied;  // Root: ApplyOutcome, when applied.
  std::vector<ledger::Status> refused;  // The results the ledger would not record.
};

struct BankApply {
  bool apply = false;
  std::string actor;  // Who records the results: the caller itself (MayWriteFinance).
  uint32_t date = 0;
};

// Parses `text` (with `columns` if given) and matches its lines, every payment named within the
// caller's jurisdiction (else refused, naming the first outside it): the summary, a
// ReconcileResult, as the root of r->message, the lines in extra->lines. With apply (a write: run
// it with LedgerServer::Write), records the results, by a finance officer in its own name,
// submitted by the caller: extra->applied counts them, extra->refused says why any was not.
ReadFn ReconcileJob(std::string text, std::optional<std::string> columns, BankApply apply,
                    std::shared_ptr<Reconciled> extra);

}  // namespace ledgerd
