// Who may read what: see access.h.
#include "access.h"

#include <capnp/schema.h>
#include <fmt/format.h>

#include "benefit_ledger/format.h"

namespace ledgerd {

using ledger::Status;
using Role = ledger::schema::Role;

bool Within(std::string_view region, std::string_view jurisdiction) {
  return region.substr(0, jurisdiction.size()) == jurisdiction;
}

Status Refused(const char* field, const ledger::ActorInfo& me, std::string_view what) {
  return Status::Invalid(field, fmt::format("refused: {} is outside actor \"{}\"'s jurisdiction {}", what, me.id,
                                            me.jurisdiction.empty() ? "(everywhere)" : me.jurisdiction));
}

Status MayVerify(const ledger::ActorInfo& me) {
  if (me.role == Role::AUDITOR || me.role == Role::INSPECTOR || me.role == Role::ADMINISTRATOR) return Status::Ok();
  return Status::Invalid("actor", fmt::format("refused: verify is for auditors, inspectors and administrators; actor "
                                              "\"{}\" is none",
                                              me.id));
}

// A report's region prefix: the caller's jurisdiction when none is given, else one inside it.
Status ScopeRegion(const ledger::ActorInfo& me, std::string* region_prefix) {
  if (region_prefix->empty()) {
    *region_prefix = me.jurisdiction;
    return Status::Ok();
  }
  if (!ledger::IsValidRegionPrefix(*region_prefix)) {
    return Status::Invalid("region",
                           fmt::format("\"{}\" is not a region prefix (2, 4, 6, 9 or 12 digits)", *region_prefix));
  }
  if (!Within(*region_prefix, me.jurisdiction)) return Refused("region", me, "region " + *region_prefix);
  return Status::Ok();
}

Status ScopeHousehold(ledger::Ledger& l, const ledger::ActorInfo& me, std::string_view household) {
  std::string region;
  Status s = l.HouseholdRegion(household, &region);
  if (!s.ok()) return s;
  if (!Within(region, me.jurisdiction)) return Refused("household", me, fmt::format("household {}", household));
  return Status::Ok();
}

// Entry `seq` is in scope if its region is within the caller's jurisdiction. The ledger's own
// entries (the genesis, checkpoint keys) are about no region and hold no personal data: in
// everyone's scope.
Status ScopeEntry(ledger::Ledger& l, const ledger::ActorInfo& me, uint64_t seq) {
  std::string household, region;
  Status s = l.EntryScope(seq, &household, &region);
  if (s.ok() && !region.empty() && !Within(region, me.jurisdiction)) {
    s = Refused("seq", me, fmt::format("entry {} (region {})", seq, region));
  }
  return s;
}

// Ok for an actor the log has not deactivated.
Status Active(const ledger::ActorInfo& a) {
  if (a.active) return Status::Ok();
  return Status::Invalid("actor", fmt::format("refused: actor \"{}\" was deactivated ({}: {})", a.id, a.deactivated_by,
                                              a.deactivation_reason));
}

// The role's schema name ("countyApprover"), for the log.
std::string RoleName(Role role) {
  auto enumerants = capnp::Schema::from<Role>().getEnumerants();
  auto i = static_cast<unsigned>(role);
  return i < enumerants.size() ? std::string(enumerants[i].getProto().getName()) : std::to_string(i);
}

// A trace of an actor is in scope if that actor's jurisdiction lies within the caller's.
Status ScopeTrace(ledger::Ledger& l, const ledger::ActorInfo& me, ledger::results::TraceScope scope,
                  std::string* asked) {
  using Scope = ledger::results::TraceScope;
  if (scope == Scope::kHousehold) return ScopeHousehold(l, me, *asked);
  if (scope == Scope::kRegion) return ScopeRegion(me, asked);
  ledger::ActorInfo target;
  Status s = l.LookupActor(*asked, &target);
  if (!s.ok()) return s;
  if (!Within(target.jurisdiction, me.jurisdiction)) return Refused("actor", me, "actor " + *asked);
  return Status::Ok();
}

bool ReadsOnly(Role role) {
  return role == Role::AUDITOR || role == Role::INSPECTOR;
}

Status MayWrite(const ledger::ActorInfo& me, std::string_view actor_id, const char* field, std::string_view what) {
  if (ReadsOnly(me.role)) {
    return Status::Invalid(field, fmt::format("refused: actor \"{}\" is an {}: auditors and inspectors read, "
                                              "never write",
                                              me.id, me.role == Role::AUDITOR ? "auditor" : "inspector"));
  }
  if (actor_id != me.id) {
    return Status::Invalid(field,
                           fmt::format("refused: {} is by \"{}\" but this connection is authenticated as "
                                       "\"{}\": an actor writes only in its own name (an integration actor appends "
                                       "other actors' events)",
                                       what, actor_id, me.id));
  }
  return Status::Ok();
}

Status MayWriteFinance(const ledger::ActorInfo& me, std::string_view actor_id, std::string_view what) {
  Status s = MayWrite(me, actor_id, "actor", what);
  if (s.ok() && me.role != Role::FINANCE_OFFICER) {
    s = Status::Invalid("actor", fmt::format("refused: {} is for finance officers; actor \"{}\" has role {}", what,
                                             me.id, RoleName(me.role)));
  }
  return s;
}

}  // namespace ledgerd
