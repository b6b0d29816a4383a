// Who may read (and write) what in ledgerd, for RPC calls (ledgerd.cc) and the web console (console.h) alike:
// an actor's jurisdiction is a region prefix ("" is everywhere), and a read is in scope when what
// it reads lies within it. Refusals are InvalidArgument Statuses whose reason begins "refused:".
// Also the reply a read job hands back to the event loop (LedgerServer::Read). Thread-safe
// functions; each takes the ledger (a reader's snapshot) it checks against.
#pragma once

#include <capnp/message.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/ledger.h"
#include "benefit_ledger/results.h"
#include "benefit_ledger/status.h"

namespace ledgerd {

bool Within(std::string_view region, std::string_view jurisdiction);
// "refused: WHAT is outside actor ME's jurisdiction J", naming `field`.
ledger::Status Refused(const char* field, const ledger::ActorInfo& me, std::string_view what);
// A report's region prefix: the caller's jurisdiction when none is given, else one inside it.
ledger::Status ScopeRegion(const ledger::ActorInfo& me, std::string* region_prefix);
ledger::Status ScopeHousehold(ledger::Ledger& l, const ledger::ActorInfo& me, std::string_view household);
// Entry `seq` is in scope if its region is within the caller's jurisdiction (the ledger's own
// entries, about no region, are in everyone's).
ledger::Status ScopeEntry(ledger::Ledger& l, const ledger::ActorInfo& me, uint64_t seq);
// A trace of an actor is in scope if that actor's jurisdiction lies within the caller's.
ledger::Status ScopeTrace(ledger::Ledger& l, const ledger::ActorInfo& me, ledger::results::TraceScope scope,
                          std::string* asked);
// A full verify reads the whole log: the work of auditors, inspectors and administrators.
ledger::Status MayVerify(const ledger::ActorInfo& me);
// Ok for an actor the log has not deactivated.
ledger::Status Active(const ledger::ActorInfo& a);
// The role's schema name ("countyApprover").
std::string RoleName(ledger::schema::Role role);
// Auditors and inspectors read, never write.
bool ReadsOnly(ledger::schema::Role role);
// Why `me` may not write what `what` names ("the event", "the roll") in the name of `actor_id`,
// or ok: auditors and inspectors never write, and an actor writes only in its own name.
ledger::Status MayWrite(const ledger::ActorInfo& me, std::string_view actor_id, const char* field,
                        std::string_view what);
// Payroll and bank results are the finance office's: a finance officer, in its own name (the
// caller checks the jurisdiction, per county or per payment).
ledger::Status MayWriteFinance(const ledger::ActorInfo& me, std::string_view actor_id, std::string_view what);
// Whether `s` is a refusal of access (as Refused and Active word them), not a bad request.
inline bool IsRefusal(const ledger::Status& s) {
  return s.code() == ledger::Status::Code::kInvalidArgument && s.reason().rfind("refused:", 0) == 0;
}

// What a read job hands back to the event loop: a result record and the texts beside it.
struct Reply {
  ledger::ActorInfo actor;  // The caller, as the ledger has it now.
  capnp::MallocMessageBuilder message;
  ledger::Status status;
  std::vector<std::string> texts, entries;
  std::string text;
};
using ReadFn = std::function<void(ledger::Ledger&, const ledger::ActorInfo&, Reply*)>;

}  // namespace ledgerd
