#include "ledger/domain/rules.h"

#include <capnp/schema.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>

#include "ledger/core/genesis.h"
#include "ledger/domain/signing.h"
#include "ledger/domain/validate.h"
#include "ledger/util/calendar.h"
#include "ledger/util/formats.h"

namespace ledger::rules {
namespace {

using schema::Event;
using schema::Programme;
using schema::Role;
using state::Case;
using state::CaseStatus;
using Which = Event::Which;
using calendar::AddMonths;
using calendar::AddMonthsToDate;
using calendar::FirstDayOf;
using calendar::PeriodOf;

// ---------------------------------------------------------------------------------------------
// The catalogue: each RuleId with its printed id and what it checks. Every Flag() names a RuleId.

constexpr std::array<RuleInfo, kRuleCount> kRules = {{
    {RuleId::kActorRegistered, "actor.registered",
     "the acting official (and any second official) is a registered actor, not deactivated"},
    {RuleId::kActorRole, "actor.role", "the actor's role may record this kind of event"},
    {RuleId::kActorJurisdiction, "actor.jurisdiction",
     "the household or region acted on lies within the actor's jurisdiction"},
    {RuleId::kApprovalLevel, "approval.level",
     "a township reviewer approves only where approval is delegated to townships"},
    {RuleId::kDutyTwoPeople, "duty.two_people",
     "economic checks, home visits and corrections need a second, different official"},
    {RuleId::kDutySeparation, "duty.separation",
     "the approver did not make the home visit or the township review of the case"},
    {RuleId::kRelativeActs, "relative.acts",
     "no official acts on a case of a household with a close relative of theirs"},
    {RuleId::kRelativeUndeclared, "relative.undeclared",
     "an application declares it when a member is a declared relative of staff"},
    {RuleId::kRelativeCountyVisit, "relative.county_visit",
     "a case of a relative of staff has a county-level home visit before approval"},
    {RuleId::kProcedureOrder, "procedure.order",
     "application, economic check, home visit, township review (passed), public notice, "
     "decision: each step after the ones its programme requires, none after a decision"},
    {RuleId::kNoticePeriod, "notice.period", "a public notice runs at least 7 days"},
    {RuleId::kNoticeNotEnded, "notice.not_ended", "approval comes after the public notice has ended"},
    {RuleId::kObjectionOpen, "objection.open", "no objection is left unresolved at approval"},
    {RuleId::kObjectionRenotice, "objection.renotice",
     "an upheld objection is followed by a new public notice before approval"},
    {RuleId::kApprovalFirstPeriod, "approval.first_period", "payments start the month after approval"},
    {RuleId::kApprovalClock, "approval.clock",
     "a 低保 or 特困 approval comes 10 to 90 days after the application (the legal clock is 18-30 "
     "working days)"},
    {RuleId::kApplicationDuplicate, "application.duplicate", "a household has one open case per programme"},
    {RuleId::kRejectionReason, "rejection.reason", "a rejection gives a reason"},
    {RuleId::kStandardMissing, "standard.missing", "a standard is in force for the region, programme and month"},
    {RuleId::kEntitlementAboveStandard, "entitlement.above_standard",
     "an entitlement is at most what the standard allows (低保: standard minus "
     "per-capita income, times members covered; others: standard times members)"},
    {RuleId::kProgrammeExclusive, "programme.exclusive",
     "no person is covered by two mutually exclusive programmes at once"},
    {RuleId::kPersonTwoHouseholds, "person.two_households", "no person is a member of two households at once"},
    {RuleId::kReviewInterval, "review.interval", "an approved case has its next review due within 12 months"},
    {RuleId::kReviewOverdue, "review.overdue", "no payment for a month after the case's review fell due"},
    {RuleId::kCaseState, "case.state",
     "suspension, resumption, adjustment, review and exit apply to a case in the right state"},
    {RuleId::kExitGradual, "exit.gradual", "gradual exit (渐退) only for income above the line, for at most 6 months"},
    {RuleId::kExitOverpayment, "exit.overpayment",
     "an exit (or death) recorded after months it ends were paid: each payment for a month after it "
     "(and its gradual-exit months) is an overpayment to recover (a flag: the exit is accepted under "
     "every policy)",
     false},
    {RuleId::kPaymentInactive, "payment.inactive",
     "payments only for months in which the case is approved and not suspended"},
    {RuleId::kPaymentAfterExit, "payment.after_exit",
     "no payment for a month after an exit (and its gradual-exit months)"},
    {RuleId::kPaymentAmount, "payment.amount",
     "a payment equals the entitlement in force for its month, standard rises included (times 3 for quarterly)"},
    {RuleId::kPaymentDuplicate, "payment.duplicate",
     "one payment per household, programme and month, unless supplementary with a reason"},
    {RuleId::kPaymentPeriod, "payment.period", "quarterly programmes are paid for the first month of a quarter"},
    {RuleId::kCardShared, "card.shared", "no bank card is on file for (given or paid to) two households"},
    {RuleId::kRollMatch, "roll.match",
     "a payment is on a roll of its county, programme and month, within its line count and "
     "control sum"},
    {RuleId::kBankOrder, "bank.order",
     "a bank result follows its payment's state: settled or failed once, returned after settled, "
     "returning at most what was paid; a recovery orders back at most what was paid"},
    {RuleId::kCorrectionValid, "correction.valid",
     "a correction gives a reason, has a second official, corrects an event once, and an "
     "amendment keeps the kind, id and household of what it amends"},
}};

// Each rule's row stands at its RuleId's place, so that RuleName and Info are a lookup.
constexpr bool InRuleIdOrder() {
  for (size_t i = 0; i < kRules.size(); ++i) {
    if (static_cast<size_t>(kRules[i].rule) != i) return false;
  }
  return true;
}
static_assert(InRuleIdOrder(), "kRules lists the rules in RuleId order");

const RuleInfo& Info(RuleId rule) {
  return kRules[static_cast<size_t>(rule)];
}

// ---------------------------------------------------------------------------------------------
// Programmes

enum Step : uint8_t { kCheck = 1, kVisit = 2, kReview = 4, kNotice = 8 };
enum class Frequency { kMonthly, kQuarterly, kOnce };

struct ProgrammeRules {
  uint8_t steps;  // Required steps before a decision.
  Frequency frequency;
  int exclusive_group;  // Programmes of one non-zero group exclude each other for a person.
  bool gap_based;       // 低保: pays standard minus per-capita income.
  bool reviewed;        // Has periodic reviews.
};

ProgrammeRules RulesOf(Programme p) {
  constexpr uint8_t kFull = kCheck | kVisit | kReview | kNotice;
  switch (p) {
    case Programme::URBAN_DIBAO:
    case Programme::RURAL_DIBAO: return {kFull, Frequency::kMonthly, 1, true, true};
    case Programme::TEKUN_CENTRALISED:
    case Programme::TEKUN_DISPERSED: return {kFull, Frequency::kMonthly, 1, false, true};
    case Programme::TEMPORARY: return {kCheck | kVisit | kReview, Frequency::kOnce, 0, false, false};
    case Programme::ORPHAN_INSTITUTIONAL:
    case Programme::ORPHAN_DISPERSED:
    case Programme::UNSUPPORTED_CHILD: return {kVisit | kReview, Frequency::kMonthly, 2, false, true};
    case Programme::DISABILITY_LIVING:
    case Programme::DISABILITY_CARE: return {kVisit | kReview, Frequency::kMonthly, 0, false, true};
    case Programme::ELDERLY_ALLOWANCE: return {kReview, Frequency::kMonthly, 0, false, true};
    case Programme::ELDERLY_SERVICE: return {kReview, Frequency::kQuarterly, 0, false, true};
    default: return {kFull, Frequency::kMonthly, 0, false, true};
  }
}

CaseStatus StatusAfter(Step s) {
  return s == kCheck    ? CaseStatus::kChecked
         : s == kVisit  ? CaseStatus::kVisited
         : s == kReview ? CaseStatus::kReviewed
                        : CaseStatus::kNoticed;
}

const char* StepName(Step s) {
  return s == kCheck    ? "economic check"
         : s == kVisit  ? "home visit"
         : s == kReview ? "township review"
                        : "public notice";
}

// ---------------------------------------------------------------------------------------------
// Roles: which kinds each role may record.

bool RoleMay(Role role, Which kind) {
  switch (role) {
    case Role::CASEWORKER:
      return kind == Which::HOUSEHOLD_REGISTERED || kind == Which::MEMBERS_CHANGED ||
             kind == Which::APPLICATION_SUBMITTED || kind == Which::ECONOMIC_CHECK_RECORDED ||
             kind == Which::HOME_VISIT_RECORDED || kind == Which::OBJECTION_RAISED || kind == Which::REVIEW_RECORDED;
    case Role::TOWNSHIP_REVIEWER:
      return kind == Which::TOWNSHIP_REVIEW || kind == Which::PUBLIC_NOTICE_POSTED || kind == Which::OBJECTION_RAISED ||
             kind == Which::OBJECTION_RESOLVED || kind == Which::HOME_VISIT_RECORDED ||
             kind == Which::REVIEW_RECORDED || kind == Which::APPROVAL ||
             kind == Which::REJECTION;  // Approval and rejection: see approval.level.
    case Role::COUNTY_APPROVER:
      return kind == Which::APPROVAL || kind == Which::REJECTION || kind == Which::ENTITLEMENT_ADJUSTED ||
             kind == Which::SUSPENSION || kind == Which::RESUMPTION || kind == Which::EXIT ||
             kind == Which::PAYMENT_ROLL_ISSUED || kind == Which::HOME_VISIT_RECORDED ||
             kind == Which::REVIEW_RECORDED || kind == Which::OBJECTION_RESOLVED || kind == Which::CORRECTION;
    case Role::FINANCE_OFFICER:  // Rolls are issued by the civil-affairs approver or by finance.
      return kind == Which::PAYMENT_ROLL_ISSUED || kind == Which::PAYMENT_ISSUED || kind == Which::PAYMENT_SETTLED ||
             kind == Which::PAYMENT_FAILED || kind == Which::PAYMENT_RETURNED || kind == Which::RECOVERY_ORDERED ||
             kind == Which::FUNDS_ALLOCATED;
    case Role::ADMINISTRATOR:
      return kind == Which::ACTOR_REGISTERED || kind == Which::STANDARD_CHANGED || kind == Which::RELATIVE_DECLARED ||
             kind == Which::APPROVAL_LEVEL_SET || kind == Which::CORRECTION || kind == Which::ACTOR_KEY_SET ||
             kind == Which::ACTOR_DEACTIVATED;
    case Role::INTEGRATION: return false;  // A system: it submits officials' events (CheckSubmitter), never its own.
    default: return false;                 // Auditors and inspectors read; they record nothing.
  }
}

// The schema name of an enum value ("countyApprover", "urbanDibao").
template <class E>
std::string NameOf(uint16_t value) {
  auto enumerants = capnp::Schema::from<E>().getEnumerants();
  return value < enumerants.size() ? std::string(enumerants[value].getProto().getName().cStr()) : std::to_string(value);
}

std::string Yuan(int64_t fen) {
  return FormatYuan(fen) + " yuan";
}

// ---------------------------------------------------------------------------------------------
// The checker: one event against the state.

class Checker {
 public:
  Checker(Event::Reader event, const Event::Reader* corrected, state::StateTxn* txn, std::string_view submitted_by)
      : event_(event), corrected_(corrected), txn_(*txn), id_(event.getEventId()), submitted_by_(submitted_by) {}

  Verdict Run();

 private:
  Verdict Finish();
  void Flag(RuleId rule, std::string message, std::vector<std::string> others = {});
  void Refuse(Status s) {
    if (verdict_.structural.ok()) verdict_.structural = std::move(s);
  }
  bool Refused() const { return !verdict_.structural.ok(); }

  void CheckSubmitter();
  void CheckActor();
  void CheckSecondActor(const std::string& second, const char* field);
  void CheckRelativesActing();
  std::string TargetRegion() const;
  Case* CaseOf(const capnp::Text::Reader& case_id, const char* field);
  std::optional<state::Payment> PaymentOf(const capnp::Text::Reader& payment_id, const char* field);
  bool IsRelativeCase(const Case& c) const;
  std::vector<std::string> CoveredPeople(const Case& c) const;

  void Step(Case& c, ::ledger::rules::Step step);
  std::optional<int64_t> StandardMonthlyFen(uint16_t programme, uint32_t date);
  LoadStandards Standards();  // Through txn_.
  void CheckEntitlement(const Case& c, int64_t monthly_fen, uint32_t members, uint32_t from_period);
  // Flags case.state unless the case is in one of `allowed`; true if it is.
  bool InState(const Case& c, std::initializer_list<CaseStatus> allowed, const char* what) {
    if (std::find(allowed.begin(), allowed.end(), c.status) != allowed.end()) return true;
    Flag(RuleId::kCaseState,
         fmt::format("{} of case \"{}\", which is {}", what, c.id, state::CaseStatusName(c.status)));
    return false;
  }
  void ChangeStatus(Case& c, CaseStatus to) {
    c.status_history.emplace_back(id_, c.status);
    c.status = to;
  }

  void OnHouseholdRegistered();
  void OnMembersChanged();
  void OnApplication();
  void OnEconomicCheck();
  void OnHomeVisit();
  void OnTownshipReview();
  void OnNotice();
  void OnObjectionRaised();
  void OnObjectionResolved();
  void OnApproval();
  void OnRejection();
  void OnEntitlementAdjusted();
  void OnReview();
  void OnSuspension();
  void OnResumption();
  void OnExit();
  void FindOverpayments(Case& c);
  void AddOverpayment(Case& c, const state::Payment& p);
  void OnStandardChanged();
  void OnRollIssued();
  void OnPaymentIssued();
  void OnBankResult();
  bool CheckCard(schema::BankCard::Reader card, const char* field);  // False: refused.
  void SetCardOnFile(Case& c, schema::BankCard::Reader card, capnp::Text::Reader payee_name);
  void OnRecovery();
  void OrderAgainstOverpayments(schema::RecoveryOrdered::Reader r, int sign);
  void OnRelativeDeclared();
  void OnActorRegistered();
  void OnActorKeySet();
  void OnActorDeactivated();
  void SetPublicKey(const std::string& actor, const capnp::Text::Reader& text, const char* field);
  void OnApprovalLevelSet();
  void OnCorrection();
  void UndoByCorrection(const Event::Reader& target, bool annul, const Event::Reader* amend);
  void AddPersonToHousehold(const std::string& person);
  void SetActive(const Case& c, bool active);

  Event::Reader event_;
  const Event::Reader* corrected_;
  state::StateTxn& txn_;
  std::string id_;
  std::string submitted_by_;  // Entry.submittedBy: "" on the ledger directory, and when replaying.
  Verdict verdict_;
  std::string household_id_;
  std::optional<state::Household> household_;
  std::optional<state::Actor> actor_;
};

void Checker::Flag(RuleId rule, std::string message, std::vector<std::string> others) {
  std::vector<std::string> ids = {id_};
  for (auto& o : others) {
    if (!o.empty() && std::find(ids.begin(), ids.end(), o) == ids.end()) ids.push_back(std::move(o));
  }
  verdict_.findings.push_back({RuleName(rule), std::move(message), std::move(ids)});
}

Verdict Checker::Run() {
  household_id_ = event_.getHouseholdId();
  if (!household_id_.empty()) {
    household_ = txn_.Load<state::Household>(state::HouseholdKey(household_id_));
    bool registering = event_.isHouseholdRegistered();
    if (registering && household_)
      Refuse(Status::Conflict("householdId", fmt::format("household \"{}\" is already registered", household_id_)));
    if (!registering && !household_)
      Refuse(Status::NotFound(fmt::format("no household \"{}\"", household_id_), "householdId"));
    if (registering) {
      household_.emplace();
      household_->region_code = event_.getRegionCode();
      household_->registered_event = id_;
    }
  }
  if (Refused()) return Finish();
  CheckSubmitter();
  if (Refused()) return Finish();
  CheckActor();
  CheckRelativesActing();
  switch (event_.which()) {
    case Which::HOUSEHOLD_REGISTERED: OnHouseholdRegistered(); break;
    case Which::MEMBERS_CHANGED: OnMembersChanged(); break;
    case Which::APPLICATION_SUBMITTED: OnApplication(); break;
    case Which::ECONOMIC_CHECK_RECORDED: OnEconomicCheck(); break;
    case Which::HOME_VISIT_RECORDED: OnHomeVisit(); break;
    case Which::TOWNSHIP_REVIEW: OnTownshipReview(); break;
    case Which::PUBLIC_NOTICE_POSTED: OnNotice(); break;
    case Which::OBJECTION_RAISED: OnObjectionRaised(); break;
    case Which::OBJECTION_RESOLVED: OnObjectionResolved(); break;
    case Which::APPROVAL: OnApproval(); break;
    case Which::REJECTION: OnRejection(); break;
    case Which::ENTITLEMENT_ADJUSTED: OnEntitlementAdjusted(); break;
    case Which::REVIEW_RECORDED: OnReview(); break;
    case Which::SUSPENSION: OnSuspension(); break;
    case Which::RESUMPTION: OnResumption(); break;
    case Which::EXIT: OnExit(); break;
    case Which::STANDARD_CHANGED: OnStandardChanged(); break;
    case Which::PAYMENT_ROLL_ISSUED: OnRollIssued(); break;
    case Which::PAYMENT_ISSUED: OnPaymentIssued(); break;
    case Which::PAYMENT_SETTLED:
    case Which::PAYMENT_FAILED:
    case Which::PAYMENT_RETURNED: OnBankResult(); break;
    case Which::RECOVERY_ORDERED: OnRecovery(); break;
    case Which::RELATIVE_DECLARED: OnRelativeDeclared(); break;
    case Which::ACTOR_REGISTERED: OnActorRegistered(); break;
    case Which::ACTOR_KEY_SET: OnActorKeySet(); break;
    case Which::ACTOR_DEACTIVATED: OnActorDeactivated(); break;
    case Which::APPROVAL_LEVEL_SET: OnApprovalLevelSet(); break;
    case Which::CORRECTION: OnCorrection(); break;
    case Which::FUNDS_ALLOCATED: break;  // Recorded for the funding totals; no rule of its own.
    case Which::LEDGER_GENESIS:
    case Which::CHECKPOINT_KEY_SET: break;  // Not given to the checker (Process).
  }
  if (!Refused() && household_) txn_.Store(state::HouseholdKey(household_id_), *household_);
  return Finish();
}

// The verdict, unless a state record could not be read: then whatever the rules decided rests
// on a record they did not see, and the verdict is that read's error.
Verdict Checker::Finish() {
  if (!txn_.status().ok()) verdict_.structural = txn_.status();
  return std::move(verdict_);
}

// ---------------------------------------------------------------------------------------------
// Who acts

std::string Checker::TargetRegion() const {
  if (household_) return household_->region_code;
  switch (event_.which()) {
    case Which::STANDARD_CHANGED: return event_.getStandardChanged().getRegionPrefix();
    case Which::APPROVAL_LEVEL_SET: return event_.getApprovalLevelSet().getRegionPrefix();
    case Which::FUNDS_ALLOCATED: return event_.getFundsAllocated().getRegionPrefix();
    case Which::PAYMENT_ROLL_ISSUED: return event_.getPaymentRollIssued().getCountyCode();
    case Which::ACTOR_REGISTERED: return event_.getActorRegistered().getJurisdiction();
    case Which::ACTOR_KEY_SET: {
      auto target = txn_.Load<state::Actor>(state::ActorKey(event_.getActorKeySet().getTargetActorId().cStr()));
      return target ? target->jurisdiction : std::string(event_.getRegionCode());
    }
    case Which::ACTOR_DEACTIVATED: {
      auto target = txn_.Load<state::Actor>(state::ActorKey(event_.getActorDeactivated().getTargetActorId().cStr()));
      return target ? target->jurisdiction : std::string(event_.getRegionCode());
    }
    default: return event_.getRegionCode();
  }
}

// An event submitted by an actor other than its own (Entry.submittedBy, through a server) is
// accepted only from a registered, active integration actor, for a registered, active actor,
// in a region within the integration actor's jurisdiction. These refuse under every policy: they
// decide who may write in another's name, not whether a step of the procedure was lawful. The
// named actor's role and jurisdiction are then checked as for its own events (CheckActor).
void Checker::CheckSubmitter() {
  const std::string actor_id = event_.getActorId();
  if (submitted_by_.empty() || submitted_by_ == actor_id) return;
  auto submitter = txn_.Load<state::Actor>(state::ActorKey(submitted_by_));
  if (!submitter || submitter->role != static_cast<uint16_t>(Role::INTEGRATION)) {
    std::string what = submitter ? "a " + NameOf<Role>(submitter->role) : "not a registered actor";
    return Refuse(Status::Invalid(
        "actorId", fmt::format("refused: the event is by \"{}\" but submitted by \"{}\" ({}): an actor submits "
                               "only its own events, unless it is an integration actor",
                               actor_id, submitted_by_, what)));
  }
  if (auto off = txn_.Load<state::ActorDeactivation>(state::ActorDeactivationKey(submitted_by_))) {
    return Refuse(
        Status::Invalid("submittedBy", fmt::format("refused: integration actor \"{}\" was deactivated ({}: {})",
                                                   submitted_by_, off->event_id, off->reason)));
  }
  if (!txn_.Load<state::Actor>(state::ActorKey(actor_id))) {
    return Refuse(Status::Invalid(
        "actorId", fmt::format("refused: integration actor \"{}\" submits events of registered actors only; \"{}\" "
                               "is not registered",
                               submitted_by_, actor_id)));
  }
  if (auto off = txn_.Load<state::ActorDeactivation>(state::ActorDeactivationKey(actor_id))) {
    return Refuse(Status::Invalid("actorId", fmt::format("refused: actor \"{}\" was deactivated ({}: {})", actor_id,
                                                         off->event_id, off->reason)));
  }
  std::string region = TargetRegion();
  if (region.rfind(submitter->jurisdiction, 0) != 0) {
    Refuse(Status::Invalid("submittedBy", fmt::format("refused: region {} is outside integration actor \"{}\"'s "
                                                      "jurisdiction {}",
                                                      region, submitted_by_, submitter->jurisdiction)));
  }
}

void Checker::CheckActor() {
  std::string actor_id = event_.getActorId();
  actor_ = txn_.Load<state::Actor>(state::ActorKey(actor_id));
  // Bootstrap: the first actor of a ledger registers itself (there is nobody else to do it).
  bool first = event_.isActorRegistered() && event_.getActorRegistered().getNewActorId() == actor_id &&
               !txn_.Load<state::Actor>(state::ActorKey("")).has_value();
  if (first) return;
  if (!actor_) {
    Flag(RuleId::kActorRegistered, fmt::format("actor \"{}\" is not registered", actor_id));
    return;
  }
  if (auto off = txn_.Load<state::ActorDeactivation>(state::ActorDeactivationKey(actor_id))) {
    Flag(RuleId::kActorRegistered, fmt::format("actor \"{}\" was deactivated ({})", actor_id, off->reason),
         {off->event_id});
    return;
  }
  auto role = static_cast<Role>(actor_->role);
  if (!RoleMay(role, event_.which())) {
    std::string who = role == Role::INTEGRATION
                          ? "an integration actor (it submits other actors' events, never its own)"
                          : "a " + NameOf<Role>(actor_->role);
    Flag(RuleId::kActorRole, fmt::format("{} may not record {}", who, KindName(event_)), {actor_->event_id});
  }
  std::string region = TargetRegion();
  if (region.rfind(actor_->jurisdiction, 0) != 0) {
    Flag(RuleId::kActorJurisdiction,
         fmt::format("region {} is outside actor \"{}\"'s jurisdiction {}", region, actor_id, actor_->jurisdiction),
         {actor_->event_id});
  }
}

void Checker::CheckSecondActor(const std::string& second, const char* what) {
  if (second == std::string(event_.getActorId())) {
    Flag(event_.isCorrection() ? RuleId::kCorrectionValid : RuleId::kDutyTwoPeople,
         fmt::format("the {} must be a second official, not \"{}\" again", what, second));
  } else if (auto actor = txn_.Load<state::Actor>(state::ActorKey(second)); !actor) {
    Flag(RuleId::kActorRegistered, fmt::format("{} \"{}\" is not registered", what, second));
  } else if (actor->role == static_cast<uint16_t>(Role::INTEGRATION)) {
    Flag(RuleId::kActorRole, fmt::format("the {} \"{}\" is an integration actor, not an official", what, second),
         {actor->event_id});
  }
}

void Checker::CheckRelativesActing() {
  if (!household_ || event_.isHouseholdRegistered()) return;
  std::vector<std::string> acting = {event_.getActorId()};
  if (event_.isEconomicCheckRecorded()) acting.push_back(event_.getEconomicCheckRecorded().getSecondActorId());
  if (event_.isHomeVisitRecorded()) acting.push_back(event_.getHomeVisitRecorded().getSecondActorId());
  for (const auto& m : household_->members) {
    auto person = txn_.Load<state::Person>(state::PersonKey(m.person));
    if (!person) continue;
    for (const auto& staff : person->staff_relatives) {
      if (std::find(acting.begin(), acting.end(), staff) == acting.end()) continue;
      Flag(RuleId::kRelativeActs,
           fmt::format("\"{}\" acts on household \"{}\", where {} ({}) is their declared relative", staff,
                       household_id_, m.name, m.masked));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lookups

Case* Checker::CaseOf(const capnp::Text::Reader& case_id, const char* field) {
  Case* c = household_ ? household_->FindCase(case_id.cStr()) : nullptr;
  if (c == nullptr)
    Refuse(Status::NotFound(fmt::format("household \"{}\" has no case \"{}\"", household_id_, case_id.cStr()), field));
  return c;
}

std::optional<state::Payment> Checker::PaymentOf(const capnp::Text::Reader& payment_id, const char* field) {
  auto p = txn_.Load<state::Payment>(state::PaymentKey(payment_id.cStr()));
  if (!p) {
    Refuse(Status::NotFound(fmt::format("no payment \"{}\"", payment_id.cStr()), field));
  } else if (p->household != household_id_) {
    Refuse(Status::NotFound(fmt::format("payment \"{}\" belongs to household \"{}\"", payment_id.cStr(), p->household),
                            field));
    p.reset();
  }
  return p;
}

bool Checker::IsRelativeCase(const Case& c) const {
  if (c.relative_declared) return true;
  for (const auto& person : CoveredPeople(c)) {
    auto p = txn_.Load<state::Person>(state::PersonKey(person));
    if (p && !p->staff_relatives.empty()) return true;
  }
  return false;
}

std::vector<std::string> Checker::CoveredPeople(const Case& c) const {
  if (!c.covered.empty()) return c.covered;
  std::vector<std::string> all;
  for (const auto& m : household_->members) all.push_back(m.person);
  return all;
}

std::optional<int64_t> Checker::StandardMonthlyFen(uint16_t programme, uint32_t date) {
  return rules::StandardMonthlyFen(programme, household_->region_code, date, Standards());
}

LoadStandards Checker::Standards() {
  return [this](const std::string& key) { return txn_.Load<state::Standards>(key); };
}

void Checker::CheckEntitlement(const Case& c, int64_t monthly_fen, uint32_t members, uint32_t from_period) {
  auto programme = static_cast<Programme>(c.programme);
  if (RulesOf(programme).frequency == Frequency::kOnce) return;  // One-off help has no monthly standard.
  auto standard = StandardMonthlyFen(c.programme, FirstDayOf(from_period));
  if (!standard) {
    Flag(RuleId::kStandardMissing, fmt::format("no standard for {} in region {} on {}", NameOf<Programme>(c.programme),
                                               household_->region_code, FirstDayOf(from_period)));
    return;
  }
  int64_t cap = FormulaMonthlyFen(c, *standard, members);
  int64_t per_person = FormulaMonthlyFen(c, *standard, 1);
  if (monthly_fen > cap) {
    Flag(
        RuleId::kEntitlementAboveStandard,
        fmt::format("{} a month is above the {} the standard allows for {} people ({} per person{})", Yuan(monthly_fen),
                    Yuan(cap), members, Yuan(per_person), RulesOf(programme).gap_based ? ", after income" : ""),
        {c.check_event});
  }
}

// ---------------------------------------------------------------------------------------------
// Households and people

void Checker::AddPersonToHousehold(const std::string& person) {
  auto p = txn_.Load<state::Person>(state::PersonKey(person)).value_or(state::Person{});
  for (const auto& other : p.households) {
    if (other != household_id_)
      Flag(RuleId::kPersonTwoHouseholds, fmt::format("a member is already in household \"{}\"", other));
  }
  if (std::find(p.households.begin(), p.households.end(), household_id_) == p.households.end())
    p.households.push_back(household_id_);
  txn_.Store(state::PersonKey(person), p);
}

void Checker::OnHouseholdRegistered() {
  for (auto m : event_.getHouseholdRegistered().getMembers()) {
    auto h = m.getPerson().getKeyedHash();
    std::string person(reinterpret_cast<const char*>(h.begin()), h.size());
    if (household_->FindMember(person) != nullptr) {
      Refuse(Status::Invalid("householdRegistered.members",
                             fmt::format("{} is listed twice", m.getPerson().getMasked().cStr())));
      return;
    }
    household_->members.push_back({person, m.getPerson().getMasked(), m.getName()});
    AddPersonToHousehold(person);
  }
}

void Checker::OnMembersChanged() {
  auto change = event_.getMembersChanged();
  for (auto removed : change.getRemoved()) {
    auto h = removed.getKeyedHash();
    std::string person(reinterpret_cast<const char*>(h.begin()), h.size());
    auto& members = household_->members;
    auto it = std::find_if(members.begin(), members.end(), [&](const state::Member& m) { return m.person == person; });
    if (it == members.end()) {
      Refuse(Status::NotFound(fmt::format("{} is not a member of \"{}\"", removed.getMasked().cStr(), household_id_),
                              "membersChanged.removed"));
      return;
    }
    members.erase(it);
    auto p = txn_.Load<state::Person>(state::PersonKey(person)).value_or(state::Person{});
    std::erase(p.households, household_id_);
    txn_.Store(state::PersonKey(person), p);
  }
  for (auto m : change.getAdded()) {
    auto h = m.getPerson().getKeyedHash();
    std::string person(reinterpret_cast<const char*>(h.begin()), h.size());
    if (household_->FindMember(person) == nullptr)
      household_->members.push_back({person, m.getPerson().getMasked(), m.getName()});
    AddPersonToHousehold(person);
  }
}

// ---------------------------------------------------------------------------------------------
// The procedure

void Checker::OnApplication() {
  auto a = event_.getApplicationSubmitted();
  std::string case_id = a.getCaseId();
  auto owner = txn_.Load<state::CaseOwner>(state::CaseOwnerKey(case_id));
  if (owner)
    return Refuse(
        Status::Conflict("applicationSubmitted.caseId",
                         fmt::format("case \"{}\" already exists (household \"{}\")", case_id, owner->household)));
  Case c;
  c.id = case_id;
  c.programme = static_cast<uint16_t>(a.getProgramme());
  c.relative_declared = a.getRelativeOfStaff();
  c.application_event = id_;
  c.application_date = event_.getBusinessDate();
  for (auto person : a.getMembersCovered()) {
    auto h = person.getKeyedHash();
    std::string key(reinterpret_cast<const char*>(h.begin()), h.size());
    if (household_->FindMember(key) == nullptr) {
      return Refuse(
          Status::NotFound(fmt::format("{} is not a member of \"{}\"", person.getMasked().cStr(), household_id_),
                           "applicationSubmitted.membersCovered"));
    }
    c.covered.push_back(key);
  }
  for (const auto& other : household_->cases) {
    bool open = other.status != CaseStatus::kRejected && other.status != CaseStatus::kExited;
    if (open && other.programme == c.programme) {
      Flag(RuleId::kApplicationDuplicate,
           fmt::format("case \"{}\" for the same programme is still {}", other.id, state::CaseStatusName(other.status)),
           {other.application_event});
    }
  }
  if (!c.relative_declared && IsRelativeCase(c)) {
    Flag(RuleId::kRelativeUndeclared, "a covered member is a declared relative of staff, but the application says not");
  }
  if (a.hasPayeeCard()) {
    if (!CheckCard(a.getPayeeCard(), "applicationSubmitted.payeeCard")) return;
    SetCardOnFile(c, a.getPayeeCard(), a.getPayeeName());
  }
  household_->cases.push_back(c);
  txn_.Store(state::CaseOwnerKey(case_id), state::CaseOwner{household_id_});
}

void Checker::Step(Case& c, ::ledger::rules::Step step) {
  if (c.status >= CaseStatus::kApproved) {
    Flag(RuleId::kProcedureOrder,
         fmt::format("{} of case \"{}\", which is already {}", StepName(step), c.id, state::CaseStatusName(c.status)),
         {c.approval_event});
    return;
  }
  uint8_t required = RulesOf(static_cast<Programme>(c.programme)).steps;
  for (auto before : {kCheck, kVisit, kReview}) {
    if (before >= step) break;
    if ((required & before) && c.status < StatusAfter(before)) {
      Flag(RuleId::kProcedureOrder,
           fmt::format("{} of case \"{}\" before its {}", StepName(step), c.id, StepName(before)),
           {c.application_event});
      break;
    }
  }
}

void Checker::OnEconomicCheck() {
  auto e = event_.getEconomicCheckRecorded();
  Case* c = CaseOf(e.getCaseId(), "economicCheckRecorded.caseId");
  if (c == nullptr) return;
  CheckSecondActor(e.getSecondActorId(), "second official of the economic check");
  Step(*c, kCheck);
  c->per_capita_income_fen = e.getPerCapitaMonthlyIncomeFen();
  c->check_event = id_;
  c->check_actors = {event_.getActorId(), e.getSecondActorId()};
  if (c->status < CaseStatus::kChecked) c->status = CaseStatus::kChecked;
}

void Checker::OnHomeVisit() {
  auto v = event_.getHomeVisitRecorded();
  Case* c = CaseOf(v.getCaseId(), "homeVisitRecorded.caseId");
  if (c == nullptr) return;
  CheckSecondActor(v.getSecondActorId(), "second official of the home visit");
  Step(*c, kVisit);
  c->visit_event = id_;
  c->visit_actors = {event_.getActorId(), v.getSecondActorId()};
  // County level: recorded so, by an actor whose jurisdiction is a county or wider.
  c->visit_county_level = v.getCountyLevel() && actor_ && actor_->jurisdiction.size() <= 6;
  if (c->status < CaseStatus::kVisited) c->status = CaseStatus::kVisited;
}

void Checker::OnTownshipReview() {
  auto r = event_.getTownshipReview();
  Case* c = CaseOf(r.getCaseId(), "townshipReview.caseId");
  if (c == nullptr) return;
  Step(*c, kReview);
  c->review_event = id_;
  c->review_actor = event_.getActorId();
  bool passed = r.getOutcome() == schema::Outcome::PASS;
  if (passed && c->status < CaseStatus::kReviewed) c->status = CaseStatus::kReviewed;
  if (!passed && c->status < CaseStatus::kApproved) c->status = std::min(c->status, CaseStatus::kVisited);
}

void Checker::OnNotice() {
  auto n = event_.getPublicNoticePosted();
  Case* c = CaseOf(n.getCaseId(), "publicNoticePosted.caseId");
  if (c == nullptr) return;
  Step(*c, kNotice);
  if (c->status < CaseStatus::kReviewed) {
    Flag(RuleId::kProcedureOrder, fmt::format("public notice of case \"{}\" before a passed township review", c->id),
         {c->review_event});
  }
  int64_t days = DaysSinceEpoch(n.getToDate()) - DaysSinceEpoch(n.getFromDate()) + 1;
  if (days < kMinNoticeDays) {
    Flag(RuleId::kNoticePeriod, fmt::format("the notice runs {} days ({} to {}), fewer than {}", days, n.getFromDate(),
                                            n.getToDate(), kMinNoticeDays));
  }
  c->notice_event = id_;
  c->notice_from = n.getFromDate();
  c->notice_to = n.getToDate();
  c->notice_posted = event_.getBusinessDate();
  if (c->status < CaseStatus::kNoticed && c->status >= CaseStatus::kReviewed) c->status = CaseStatus::kNoticed;
}

void Checker::OnObjectionRaised() {
  auto o = event_.getObjectionRaised();
  Case* c = CaseOf(o.getCaseId(), "objectionRaised.caseId");
  if (c == nullptr) return;
  std::string id = o.getObjectionId();
  for (const auto& existing : c->objections) {
    if (existing.id == id)
      return Refuse(
          Status::Conflict("objectionRaised.objectionId", fmt::format("objection \"{}\" already raised", id)));
  }
  c->objections.push_back({id, false, false, 0});
}

void Checker::OnObjectionResolved() {
  auto o = event_.getObjectionResolved();
  Case* c = CaseOf(o.getCaseId(), "objectionResolved.caseId");
  if (c == nullptr) return;
  auto it = std::find_if(c->objections.begin(), c->objections.end(),
                         [&](const state::Objection& x) { return x.id == o.getObjectionId().cStr(); });
  if (it == c->objections.end()) {
    return Refuse(Status::NotFound(fmt::format("case \"{}\" has no objection \"{}\"", c->id, o.getObjectionId().cStr()),
                                   "objectionResolved.objectionId"));
  }
  *it = {it->id, true, o.getUpheld(), event_.getBusinessDate()};
}

void Checker::OnApproval() {
  auto a = event_.getApproval();
  Case* c = CaseOf(a.getCaseId(), "approval.caseId");
  if (c == nullptr) return;
  if (static_cast<uint16_t>(a.getProgramme()) != c->programme) {
    return Refuse(Status::Invalid("approval.programme",
                                  fmt::format("case \"{}\" is an application for another programme", c->id)));
  }
  ProgrammeRules rules = RulesOf(a.getProgramme());
  CaseStatus needed = (rules.steps & kNotice)   ? CaseStatus::kNoticed
                      : (rules.steps & kReview) ? CaseStatus::kReviewed
                                                : CaseStatus::kApplied;
  if (c->status >= CaseStatus::kApproved) {
    Flag(RuleId::kProcedureOrder, fmt::format("case \"{}\" is already {}", c->id, state::CaseStatusName(c->status)),
         {c->approval_event});
  } else if (c->status < needed) {
    Flag(RuleId::kProcedureOrder,
         fmt::format("approval of case \"{}\", which is only {} (needs {})", c->id, state::CaseStatusName(c->status),
                     state::CaseStatusName(needed)),
         {c->application_event});
  }
  uint32_t date = event_.getBusinessDate();
  if ((rules.steps & kNotice) && c->notice_to != 0 && date <= c->notice_to) {
    Flag(RuleId::kNoticeNotEnded, fmt::format("approved on {}, the notice runs until {}", date, c->notice_to),
         {c->notice_event});
  }
  for (const auto& o : c->objections) {
    if (!o.resolved) Flag(RuleId::kObjectionOpen, fmt::format("objection \"{}\" is not resolved", o.id));
    if (o.upheld && o.resolved_date >= c->notice_posted)
      Flag(RuleId::kObjectionRenotice,
           fmt::format("objection \"{}\" was upheld on {} with no new notice since", o.id, o.resolved_date),
           {c->notice_event});
  }
  std::string approver = event_.getActorId();
  if (std::find(c->visit_actors.begin(), c->visit_actors.end(), approver) != c->visit_actors.end()) {
    Flag(RuleId::kDutySeparation, fmt::format("\"{}\" made the home visit and approves", approver), {c->visit_event});
  }
  if (approver == c->review_actor)
    Flag(RuleId::kDutySeparation, fmt::format("\"{}\" made the township review and approves", approver),
         {c->review_event});
  if (actor_ && actor_->role == static_cast<uint16_t>(Role::TOWNSHIP_REVIEWER)) {
    bool delegated = false;
    for (size_t len : {2, 4, 6, 9, 12}) {  // The most specific setting wins.
      auto level = txn_.Load<state::ApprovalLevel>(state::ApprovalLevelKey(household_->region_code.substr(0, len)));
      if (level) delegated = level->level == static_cast<uint16_t>(schema::ApprovalLevel::TOWNSHIP);
    }
    if (!delegated)
      Flag(RuleId::kApprovalLevel,
           fmt::format("approval is not delegated to townships in region {}", household_->region_code));
  }
  if (IsRelativeCase(*c) && !c->visit_county_level) {
    Flag(RuleId::kRelativeCountyVisit, "a case of a relative of staff approved without a county-level home visit",
         {c->visit_event});
  }
  int64_t days = DaysSinceEpoch(date) - DaysSinceEpoch(c->application_date);
  bool clocked = (rules.steps & kNotice) != 0;  // The legal clock is that of the full procedure.
  if (clocked && c->application_date != 0 && (days < kMinDaysToApproval || days > kMaxDaysToApproval)) {
    Flag(RuleId::kApprovalClock, fmt::format("approved {} days after the application of {}", days, c->application_date),
         {c->application_event});
  }
  if (a.getFirstPeriod() != AddMonths(PeriodOf(date), 1)) {
    Flag(RuleId::kApprovalFirstPeriod,
         fmt::format("first month {} for an approval on {}: payments start the month after ({})", a.getFirstPeriod(),
                     date, AddMonths(PeriodOf(date), 1)));
  }
  if (rules.reviewed && (a.getReviewDueDate() == 0 || a.getReviewDueDate() > AddMonthsToDate(date, kMaxReviewMonths))) {
    Flag(RuleId::kReviewInterval,
         fmt::format("the next review must be due within {} months of {}", kMaxReviewMonths, date));
  }
  CheckEntitlement(*c, a.getMonthlyAmountFen(), a.getMembersCovered(), a.getFirstPeriod());
  c->approver = approver;
  c->approval_date = date;
  c->approval_event = id_;
  c->entitlements = {{a.getFirstPeriod(), a.getMonthlyAmountFen(), a.getMembersCovered(), id_}};
  c->review_due = a.getReviewDueDate();
  if (c->status < CaseStatus::kApproved) {
    ChangeStatus(*c, CaseStatus::kApproved);
    SetActive(*c, true);
  }
}

void Checker::SetActive(const Case& c, bool active) {
  int group = RulesOf(static_cast<Programme>(c.programme)).exclusive_group;
  for (const auto& person : CoveredPeople(c)) {
    auto p = txn_.Load<state::Person>(state::PersonKey(person)).value_or(state::Person{});
    auto same = [&](const state::Person::ActiveCase& a) { return a.household == household_id_ && a.case_id == c.id; };
    std::erase_if(p.active, same);
    if (active) {
      for (const auto& other : p.active) {
        if (group != 0 && RulesOf(static_cast<Programme>(other.programme)).exclusive_group == group) {
          const state::Member* m = household_->FindMember(person);
          Flag(RuleId::kProgrammeExclusive,
               fmt::format("{} is already covered by case \"{}\" of household \"{}\" in an exclusive programme",
                           m ? m->masked : "a member", other.case_id, other.household));
        }
      }
      p.active.push_back({household_id_, c.id, c.programme});
    }
    txn_.Store(state::PersonKey(person), p);
  }
}

void Checker::OnRejection() {
  auto r = event_.getRejection();
  Case* c = CaseOf(r.getCaseId(), "rejection.caseId");
  if (c == nullptr) return;
  if (c->status >= CaseStatus::kApproved) {
    Flag(RuleId::kProcedureOrder,
         fmt::format("rejection of case \"{}\", which is already {}", c->id, state::CaseStatusName(c->status)),
         {c->approval_event});
  }
  if (std::string(r.getReason()).find_first_not_of(" \t\n") == std::string::npos)
    Flag(RuleId::kRejectionReason, "a rejection without a reason");
  if (c->status < CaseStatus::kApproved) ChangeStatus(*c, CaseStatus::kRejected);
}

// ---------------------------------------------------------------------------------------------
// Dynamic management

void Checker::OnEntitlementAdjusted() {
  auto a = event_.getEntitlementAdjusted();
  Case* c = CaseOf(a.getCaseId(), "entitlementAdjusted.caseId");
  if (c == nullptr) return;
  if (!InState(*c, {CaseStatus::kApproved, CaseStatus::kSuspended}, "adjustment")) return;
  CheckEntitlement(*c, a.getMonthlyAmountFen(), a.getMembersCovered(), a.getFromPeriod());
  std::erase_if(c->entitlements, [&](const state::Entitlement& e) { return e.from_period == a.getFromPeriod(); });
  c->entitlements.push_back({a.getFromPeriod(), a.getMonthlyAmountFen(), a.getMembersCovered(), id_});
  std::sort(c->entitlements.begin(), c->entitlements.end(),
            [](const auto& x, const auto& y) { return x.from_period < y.from_period; });
}

void Checker::OnReview() {
  auto r = event_.getReviewRecorded();
  Case* c = CaseOf(r.getCaseId(), "reviewRecorded.caseId");
  if (c == nullptr) return;
  InState(*c, {CaseStatus::kApproved, CaseStatus::kSuspended}, "review");
  uint32_t date = event_.getBusinessDate();
  if (r.getNextReviewDate() <= date || r.getNextReviewDate() > AddMonthsToDate(date, kMaxReviewMonths)) {
    Flag(RuleId::kReviewInterval,
         fmt::format("next review {} is not within {} months after {}", r.getNextReviewDate(), kMaxReviewMonths, date));
  }
  c->review_due = r.getNextReviewDate();
}

void Checker::OnSuspension() {
  auto s = event_.getSuspension();
  Case* c = CaseOf(s.getCaseId(), "suspension.caseId");
  if (c == nullptr) return;
  if (!InState(*c, {CaseStatus::kApproved}, "suspension")) return;
  c->suspensions.push_back({s.getFromPeriod(), 0});
  ChangeStatus(*c, CaseStatus::kSuspended);
}

void Checker::OnResumption() {
  auto r = event_.getResumption();
  Case* c = CaseOf(r.getCaseId(), "resumption.caseId");
  if (c == nullptr) return;
  if (!InState(*c, {CaseStatus::kSuspended}, "resumption") || c->suspensions.empty()) return;
  c->suspensions.back().until_period = r.getFromPeriod();
  ChangeStatus(*c, CaseStatus::kApproved);
}

void Checker::OnExit() {
  auto e = event_.getExit();
  Case* c = CaseOf(e.getCaseId(), "exit.caseId");
  if (c == nullptr) return;
  if (!InState(*c, {CaseStatus::kApproved, CaseStatus::kSuspended}, "exit")) return;
  uint32_t months = e.getGradualExitMonths();
  if (months > 0 && e.getReason() != schema::ExitReason::INCOME_ABOVE_LINE) {
    Flag(RuleId::kExitGradual, "gradual exit is only for households whose income rose above the line");
  }
  if (months > kMaxGradualExitMonths)
    Flag(RuleId::kExitGradual, fmt::format("{} months of gradual exit, more than {}", months, kMaxGradualExitMonths));
  if (c->status == CaseStatus::kSuspended && !c->suspensions.empty()) c->suspensions.back().until_period = 0;
  c->paid_until_period = AddMonths(e.getLastPeriod(), months);
  ChangeStatus(*c, CaseStatus::kExited);
  SetActive(*c, false);
  FindOverpayments(*c);
}

// The exit is the truth, learned late: payments already issued for months after it are not
// undone but flagged, one finding each, and kept on the case as money to recover. They are found
// through the case's payment slots from the month after the last one that may be paid to the
// latest month paid (or the month after the exit is recorded, if later: a case whose record was
// written before it kept its latest month paid has 0 there): a few reads, never a scan.
void Checker::FindOverpayments(Case& c) {
  bool once = RulesOf(static_cast<Programme>(c.programme)).frequency == Frequency::kOnce;
  uint32_t last = std::max(c.last_paid_period, AddMonths(PeriodOf(event_.getBusinessDate()), 1));
  std::vector<std::string> slots;
  if (once) slots.push_back(PaymentSlotName(c, c.paid_until_period));
  for (uint32_t m = AddMonths(c.paid_until_period, 1); !once && m <= last; m = AddMonths(m, 1)) {
    slots.push_back(PaymentSlotName(c, m));
  }
  for (const auto& slot_name : slots) {
    auto slot = txn_.Load<state::PaymentSlot>(state::PaymentSlotKey(household_id_, slot_name));
    for (const auto& payment_id : slot ? slot->payment_ids : std::vector<std::string>{}) {
      auto p = txn_.Load<state::Payment>(state::PaymentKey(payment_id));
      bool paid_out = p && PaymentStands(*p) && p->status != state::PaymentStatus::kFailed;
      if (!paid_out || p->case_id != c.id || StandingIn(c, p->period) != Standing::kExited) continue;
      Flag(RuleId::kExitOverpayment,
           fmt::format("payment \"{}\" of {} for {} is for a month after the exit (the last month that may be paid "
                       "is {}): to be recovered",
                       p->id, Yuan(p->amount_fen), p->period, c.paid_until_period),
           {p->event_id});
      AddOverpayment(c, *p);
    }
  }
}

// `p` pays case `c` for a month after its exit (the case's latest status change).
void Checker::AddOverpayment(Case& c, const state::Payment& p) {
  std::string exit_event = c.status_history.empty() ? id_ : c.status_history.back().first;
  c.overpaid.push_back({p.id, p.event_id, exit_event, p.period, p.amount_fen, 0, p.returned_fen});
}

// ---------------------------------------------------------------------------------------------
// Ledger-wide settings

void Checker::OnStandardChanged() {
  auto s = event_.getStandardChanged();
  std::string key = state::StandardsKey(static_cast<uint16_t>(s.getProgramme()), s.getRegionPrefix().cStr());
  auto standards = txn_.Load<state::Standards>(key).value_or(state::Standards{});
  std::erase_if(standards.steps,
                [&](const state::StandardStep& x) { return x.effective_date == s.getEffectiveDate(); });
  standards.steps.push_back({s.getEffectiveDate(), s.getAmountFen(), static_cast<uint16_t>(s.getUnit()), id_});
  std::sort(standards.steps.begin(), standards.steps.end(),
            [](const auto& x, const auto& y) { return x.effective_date < y.effective_date; });
  txn_.Store(key, standards);
}

void Checker::OnApprovalLevelSet() {
  auto s = event_.getApprovalLevelSet();
  txn_.Store(state::ApprovalLevelKey(s.getRegionPrefix().cStr()),
             state::ApprovalLevel{static_cast<uint16_t>(s.getLevel())});
}

void Checker::OnRelativeDeclared() {
  auto r = event_.getRelativeDeclared();
  std::string staff = r.getStaffActorId();
  if (!txn_.Load<state::Actor>(state::ActorKey(staff)))
    Flag(RuleId::kActorRegistered, fmt::format("staff member \"{}\" is not registered", staff));
  auto h = r.getPerson().getKeyedHash();
  std::string key = state::PersonKey(std::string(reinterpret_cast<const char*>(h.begin()), h.size()));
  auto p = txn_.Load<state::Person>(key).value_or(state::Person{});
  if (std::find(p.staff_relatives.begin(), p.staff_relatives.end(), staff) == p.staff_relatives.end())
    p.staff_relatives.push_back(staff);
  txn_.Store(key, p);
}

void Checker::OnActorRegistered() {
  auto a = event_.getActorRegistered();
  std::string id = a.getNewActorId();
  if (txn_.Load<state::Actor>(state::ActorKey(id)))
    return Refuse(
        Status::Conflict("actorRegistered.newActorId", fmt::format("actor \"{}\" is already registered", id)));
  state::Actor actor{static_cast<uint16_t>(a.getRole()), a.getJurisdiction(), id_};
  txn_.Store(state::ActorKey(id), actor);
  if (!txn_.Load<state::Actor>(state::ActorKey(""))) txn_.Store(state::ActorKey(""), actor);  // "someone is registered"
  if (a.getPublicKey().size() > 0) SetPublicKey(id, a.getPublicKey(), "actorRegistered.publicKey");
}

// Keys are lost and rotated: an administrator sets, replaces or removes an actor's key
// (signing.h). Events appended before keep the key they were checked with.
void Checker::OnActorKeySet() {
  std::string id = event_.getActorKeySet().getTargetActorId();
  if (!txn_.Load<state::Actor>(state::ActorKey(id)))
    return Refuse(Status::NotFound(fmt::format("no actor \"{}\"", id), "actorKeySet.targetActorId"));
  SetPublicKey(id, event_.getActorKeySet().getPublicKey(), "actorKeySet.publicKey");
}

// An actor deactivated records nothing more (CheckActor); deactivating twice is a conflict.
void Checker::OnActorDeactivated() {
  auto d = event_.getActorDeactivated();
  std::string id = d.getTargetActorId();
  if (!txn_.Load<state::Actor>(state::ActorKey(id)))
    return Refuse(Status::NotFound(fmt::format("no actor \"{}\"", id), "actorDeactivated.targetActorId"));
  if (txn_.Load<state::ActorDeactivation>(state::ActorDeactivationKey(id)))
    return Refuse(
        Status::Conflict("actorDeactivated.targetActorId", fmt::format("actor \"{}\" is already deactivated", id)));
  txn_.Store(state::ActorDeactivationKey(id), state::ActorDeactivation{id_, d.getReason()});
}

// Structural: a key that is not the actor's own verifier key text is refused.
void Checker::SetPublicKey(const std::string& actor, const capnp::Text::Reader& text, const char* field) {
  note::Verifier key;
  Status s = text.size() == 0 ? Status::Ok() : signing::ParseActorKey(text.cStr(), actor, &key);
  if (!s.ok()) return Refuse(s.WithFieldPrefix(field));
  txn_.Store(state::ActorPublicKeyKey(actor), state::ActorPublicKey{text, id_});
}

// ---------------------------------------------------------------------------------------------
// Payments

void Checker::OnRollIssued() {
  auto r = event_.getPaymentRollIssued();
  std::string key = state::RollKey(r.getRollId().cStr());
  if (txn_.Load<state::Roll>(key))
    return Refuse(
        Status::Conflict("paymentRollIssued.rollId", fmt::format("roll \"{}\" already issued", r.getRollId().cStr())));
  state::Roll roll;
  roll.county = r.getCountyCode();
  roll.event_id = id_;
  roll.programme = static_cast<uint16_t>(r.getProgramme());
  roll.period = r.getPeriod();
  roll.line_count = r.getLineCount();
  roll.control_sum_fen = r.getControlSumFen();
  txn_.Store(key, roll);
}

void Checker::OnPaymentIssued() {
  auto p = event_.getPaymentIssued();
  auto roll = txn_.Load<state::Roll>(state::RollKey(p.getRollId().cStr()));
  if (!roll)
    return Refuse(Status::NotFound(fmt::format("no roll \"{}\"", p.getRollId().cStr()), "paymentIssued.rollId"));
  if (txn_.Load<state::Payment>(state::PaymentKey(p.getPaymentId().cStr()))) {
    return Refuse(Status::Conflict("paymentIssued.paymentId",
                                   fmt::format("payment \"{}\" already issued", p.getPaymentId().cStr())));
  }
  Case* c = CaseOf(p.getCaseId(), "paymentIssued.caseId");
  if (c == nullptr) return;
  if (static_cast<uint16_t>(p.getProgramme()) != c->programme) {
    return Refuse(
        Status::Invalid("paymentIssued.programme", fmt::format("case \"{}\" is for another programme", c->id)));
  }
  uint32_t period = p.getPeriod();
  if (roll->programme != c->programme || roll->period != period ||
      household_->region_code.rfind(roll->county, 0) != 0) {
    Flag(RuleId::kRollMatch,
         fmt::format("roll \"{}\" is for county {}, another programme or month", p.getRollId().cStr(), roll->county),
         {roll->event_id});
  }
  if (roll->lines_issued + 1 > roll->line_count || roll->sum_issued_fen + p.getAmountFen() > roll->control_sum_fen) {
    Flag(RuleId::kRollMatch,
         fmt::format("roll \"{}\" would exceed its {} lines or its control sum {}", p.getRollId().cStr(),
                     roll->line_count, Yuan(roll->control_sum_fen)),
         {roll->event_id});
  }
  ProgrammeRules rules = RulesOf(static_cast<Programme>(c->programme));
  if (rules.frequency == Frequency::kQuarterly && !calendar::IsFirstMonthOfQuarter(period)) {
    Flag(RuleId::kPaymentPeriod, fmt::format("{} is not the first month of a quarter", period));
  }
  // One payment per household, programme and month; one-off help once per case.
  std::string slot_key = state::PaymentSlotKey(household_id_, PaymentSlotName(*c, period));
  auto slot = txn_.Load<state::PaymentSlot>(slot_key).value_or(state::PaymentSlot{});
  for (const auto& other_id : slot.payment_ids) {
    auto other = txn_.Load<state::Payment>(state::PaymentKey(other_id));
    if (other && PaymentStands(*other) && p.getSupplementaryReason().size() == 0) {
      Flag(RuleId::kPaymentDuplicate, fmt::format("payment \"{}\" already pays {} for {}", other->id, period, c->id),
           {other->event_id});
    }
  }
  Payable pay = PayableFor(*c, period);
  if (pay.blocked_by) Flag(*pay.blocked_by, pay.why);
  auto amount = MonthlyAmountInForce(*c, household_->region_code, period, Standards());
  const int64_t due_fen = amount ? PaymentFen(amount->monthly_fen, static_cast<Programme>(c->programme)) : 0;
  if (amount && p.getAmountFen() != due_fen) {
    Flag(RuleId::kPaymentAmount,
         fmt::format("{} paid, the entitlement for {} is {}", Yuan(p.getAmountFen()), period, Yuan(due_fen)),
         {amount->event_id});
  }
  if (!pay.review_overdue.empty()) Flag(RuleId::kReviewOverdue, pay.review_overdue);
  if (!CheckCard(p.getCard(), "paymentIssued.card")) return;
  SetCardOnFile(*c, p.getCard(), p.getPayeeName());
  state::Payment payment;
  payment.id = p.getPaymentId();
  payment.household = household_id_;
  payment.case_id = c->id;
  payment.roll_id = p.getRollId();
  payment.event_id = id_;
  payment.programme = c->programme;
  payment.period = period;
  payment.amount_fen = p.getAmountFen();
  payment.supplementary = p.getSupplementaryReason().size() > 0;
  roll->lines_issued += 1;
  roll->sum_issued_fen += p.getAmountFen();
  slot.payment_ids.push_back(payment.id);
  c->last_paid_period = std::max(c->last_paid_period, period);
  if (pay.standing == Standing::kExited) AddOverpayment(*c, payment);  // Accepted under record only.
  txn_.Store(state::RollKey(p.getRollId().cStr()), *roll);
  txn_.Store(slot_key, slot);
  txn_.Store(state::PaymentKey(payment.id), payment);
}

// One card, one household: a card on file for another household too is a red flag. A card
// named by reference (onFile, identity.h) must be on file for this household: else refused.
bool Checker::CheckCard(schema::BankCard::Reader card, const char* field) {
  auto h = card.getKeyedHash();
  std::string key = state::CardKey(std::string(reinterpret_cast<const char*>(h.begin()), h.size()));
  auto use = txn_.Load<state::CardUse>(key).value_or(state::CardUse{});
  bool here = std::find(use.households.begin(), use.households.end(), household_id_) != use.households.end();
  if (card.getOnFile() && (!here || use.masked != card.getMasked().cStr())) {
    Refuse(Status::NotFound(
        fmt::format("card {} is not on file for household \"{}\"", card.getMasked().cStr(), household_id_),
        fmt::format("{}.keyedHash", field)));
    return false;
  }
  for (const auto& other : use.households) {
    if (other != household_id_) {
      Flag(RuleId::kCardShared,
           fmt::format("card {} is also on file for household \"{}\"", card.getMasked().cStr(), other));
    }
  }
  if (!here) {
    use.households.push_back(household_id_);
    use.masked = card.getMasked();
    txn_.Store(key, use);
  }
  return true;
}

void Checker::SetCardOnFile(Case& c, schema::BankCard::Reader card, capnp::Text::Reader payee_name) {
  auto h = card.getKeyedHash();
  c.card_hash.assign(reinterpret_cast<const char*>(h.begin()), h.size());
  c.card_masked = card.getMasked();
  c.payee_name = payee_name;
}

void Checker::OnBankResult() {
  using PS = state::PaymentStatus;
  capnp::Text::Reader payment_id = event_.isPaymentSettled()  ? event_.getPaymentSettled().getPaymentId()
                                   : event_.isPaymentFailed() ? event_.getPaymentFailed().getPaymentId()
                                                              : event_.getPaymentReturned().getPaymentId();
  std::string field = KindName(event_) + ".paymentId";
  auto p = PaymentOf(payment_id, field.c_str());
  if (!p) return;
  PS to = event_.isPaymentSettled() ? PS::kSettled : event_.isPaymentFailed() ? PS::kFailed : PS::kReturned;
  PS needed = to == PS::kReturned ? PS::kSettled : PS::kIssued;
  if (p->status != needed) {
    Flag(RuleId::kBankOrder,
         fmt::format("{} for payment \"{}\", which is not {}", KindName(event_), p->id,
                     needed == PS::kSettled ? "settled" : "awaiting a result"),
         {p->event_id});
  }
  if (to == PS::kReturned && event_.getPaymentReturned().getAmountFen() > p->amount_fen) {
    Flag(RuleId::kBankOrder,
         fmt::format("{} returned, more than the {} paid", Yuan(event_.getPaymentReturned().getAmountFen()),
                     Yuan(p->amount_fen)),
         {p->event_id});
  }
  p->status = to;
  if (to == PS::kReturned) p->returned_fen += event_.getPaymentReturned().getAmountFen();
  txn_.Store(state::PaymentKey(p->id), *p);
  if (Case* c = household_ ? household_->FindCase(p->case_id)
                           : nullptr) {  // An overpayment failed (never paid out) or came back.
    auto& overpaid = c->overpaid;
    if (to == PS::kFailed) std::erase_if(overpaid, [&](const state::Overpayment& o) { return o.payment_id == p->id; });
    for (auto& o : overpaid) {
      if (o.payment_id == p->id) o.returned_fen = p->returned_fen;
    }
  }
}

void Checker::OnRecovery() {
  auto r = event_.getRecoveryOrdered();
  int64_t paid = 0;
  std::vector<std::string> events;
  for (auto id : r.getPaymentIds()) {
    auto p = PaymentOf(id, "recoveryOrdered.paymentIds");
    if (!p) return;
    paid += p->amount_fen;
    events.push_back(p->event_id);
  }
  if (r.getAmountFen() > paid)
    Flag(RuleId::kBankOrder, fmt::format("recovery of {}, more than the {} paid", Yuan(r.getAmountFen()), Yuan(paid)),
         events);
  OrderAgainstOverpayments(r, +1);
}

// What the order counts against each overpayment it names (RecoveryShares); `sign` -1 takes an
// annulled order back.
void Checker::OrderAgainstOverpayments(schema::RecoveryOrdered::Reader r, int sign) {
  std::vector<state::Overpayment*> overpaid;  // Of each payment named, in order; null if none.
  std::vector<int64_t> amounts_fen;
  for (auto id : r.getPaymentIds()) {
    auto p = txn_.Load<state::Payment>(state::PaymentKey(id.cStr()));
    Case* c = p && household_ ? household_->FindCase(p->case_id) : nullptr;
    state::Overpayment* o = nullptr;
    for (size_t k = 0; c != nullptr && k < c->overpaid.size(); ++k) {
      if (c->overpaid[k].payment_id == p->id) o = &c->overpaid[k];
    }
    overpaid.push_back(o);
    amounts_fen.push_back(p ? p->amount_fen : 0);
  }
  std::vector<int64_t> shares_fen = RecoveryShares(r.getAmountFen(), amounts_fen);
  for (size_t i = 0; i < overpaid.size(); ++i) {
    if (overpaid[i] != nullptr) overpaid[i]->ordered_fen += sign * shares_fen[i];
  }
}

// ---------------------------------------------------------------------------------------------
// Corrections

void Checker::OnCorrection() {
  auto c = event_.getCorrection();
  if (corrected_ == nullptr)
    return Refuse(Status::NotFound("the corrected event is not in the ledger", "correction.targetEventId"));
  CheckSecondActor(c.getSecondActorId(), "second official of the correction");
  if (std::string(c.getReason()).find_first_not_of(" \t\n") == std::string::npos)
    Flag(RuleId::kCorrectionValid, "a correction without a reason");
  std::string target = c.getTargetEventId();
  std::vector<std::string>* corrected = household_ ? &household_->corrected : nullptr;
  bool again = corrected && std::find(corrected->begin(), corrected->end(), target) != corrected->end();
  if (again) Flag(RuleId::kCorrectionValid, fmt::format("event \"{}\" was corrected before", target), {target});
  // An annulled recovery order no longer counts against the overpayments it named (once).
  if (household_ && !again && c.isAnnul() && corrected_->isRecoveryOrdered()) {
    OrderAgainstOverpayments(corrected_->getRecoveryOrdered(), -1);
  }
  const Event::Reader* amend = nullptr;
  Event::Reader amended;
  if (c.isAmend()) {
    amended = c.getAmend();
    amend = &amended;
    bool same = amended.which() == corrected_->which() && amended.getEventId() == corrected_->getEventId() &&
                amended.getHouseholdId() == corrected_->getHouseholdId();
    if (!same)
      Flag(RuleId::kCorrectionValid, "an amendment must keep the kind, event id and household of the event it amends",
           {target});
  }
  if (corrected) corrected->push_back(target);
  if (household_) UndoByCorrection(*corrected_, c.isAnnul(), amend);
}

// What a correction changes in the state (README, "Corrections"): annulling a rejection,
// suspension, resumption or exit that is its case's latest status change restores the status
// before it; annulling a payment voids it (its roll line is freed); amending an approval or
// adjustment replaces the entitlement it set (annulling a recovery order is in OnCorrection:
// only the first correction of it takes it back). Other corrections are recorded, and shown by
// the tools, without changing the state.
void Checker::UndoByCorrection(const Event::Reader& target, bool annul, const Event::Reader* amend) {
  std::string target_id = target.getEventId();
  if (annul && target.isPaymentIssued()) {
    auto p = txn_.Load<state::Payment>(state::PaymentKey(target.getPaymentIssued().getPaymentId().cStr()));
    if (!p || !PaymentStands(*p)) return;
    p->status = state::PaymentStatus::kVoid;
    txn_.Store(state::PaymentKey(p->id), *p);
    auto roll = txn_.Load<state::Roll>(state::RollKey(p->roll_id));
    if (roll) {
      roll->lines_issued -= 1;
      roll->sum_issued_fen -= p->amount_fen;
      txn_.Store(state::RollKey(p->roll_id), *roll);
    }
    if (Case* c = household_ ? household_->FindCase(p->case_id) : nullptr) {  // Never paid: nothing to recover.
      std::erase_if(c->overpaid, [&](const state::Overpayment& o) { return o.payment_id == p->id; });
    }
    return;
  }
  for (auto& c : household_->cases) {
    if (annul && !c.status_history.empty() && c.status_history.back().first == target_id) {
      bool was_exit = c.status == CaseStatus::kExited;
      c.status = c.status_history.back().second;
      c.status_history.pop_back();
      if (was_exit) {
        c.paid_until_period = 0;
        c.overpaid.clear();  // No exit, nothing overpaid.
        SetActive(c, true);
      }
      if (target.isSuspension() && !c.suspensions.empty()) c.suspensions.pop_back();
      if (target.isResumption() && !c.suspensions.empty()) c.suspensions.back().until_period = 0;
      return;
    }
    if (amend == nullptr) continue;
    for (auto& e : c.entitlements) {
      if (e.event_id != target_id) continue;
      bool approval = amend->isApproval();
      e.monthly_fen =
          approval ? amend->getApproval().getMonthlyAmountFen() : amend->getEntitlementAdjusted().getMonthlyAmountFen();
      e.members =
          approval ? amend->getApproval().getMembersCovered() : amend->getEntitlementAdjusted().getMembersCovered();
      CheckEntitlement(c, e.monthly_fen, e.members, e.from_period);
      return;
    }
  }
}

}  // namespace

std::span<const RuleInfo> Catalogue() {
  return kRules;
}

const char* RuleName(RuleId rule) {
  return Info(rule).id;
}

bool Refuses(RuleId rule) {
  return Info(rule).refuses;
}

bool Refuses(std::string_view rule) {
  auto it = std::find_if(kRules.begin(), kRules.end(), [&](const RuleInfo& r) { return rule == r.id; });
  return it == kRules.end() || Refuses(it->rule);
}

Standing StandingIn(const Case& c, uint32_t period) {
  bool exited = c.status == CaseStatus::kExited;
  bool decided = c.status == CaseStatus::kApproved || c.status == CaseStatus::kSuspended || exited;
  if (!decided) return Standing::kNotApproved;
  if (exited && period > c.paid_until_period) return Standing::kExited;
  if (c.entitlements.empty() || c.entitlements.front().from_period > period) return Standing::kNotApproved;
  for (const auto& s : c.suspensions) {
    if (s.from_period <= period && (s.until_period == 0 || period < s.until_period)) return Standing::kSuspended;
  }
  return Standing::kPaid;
}

uint32_t ShownMonth(const Case& c, uint32_t period) {
  return c.entitlements.empty() ? period : std::max(period, c.entitlements.front().from_period);
}

const char* StandingName(Standing s) {
  switch (s) {
    case Standing::kNotApproved: return "not approved";
    case Standing::kPaid: return "paid";
    case Standing::kSuspended: return "suspended";
    case Standing::kExited: return "exited";
  }
  return "?";
}

Payable PayableFor(const Case& c, uint32_t period) {
  Payable pay;
  ProgrammeRules rules = RulesOf(static_cast<Programme>(c.programme));
  for (const auto& e : c.entitlements) {
    if (e.from_period <= period) pay.in_force = &e;
  }
  pay.standing = StandingIn(c, period);
  switch (pay.standing) {
    case Standing::kExited:
      pay.blocked_by = RuleId::kPaymentAfterExit;
      pay.why = fmt::format("case \"{}\" exited; the last month that may be paid is {}", c.id, c.paid_until_period);
      break;
    case Standing::kNotApproved:
      pay.blocked_by = RuleId::kPaymentInactive;
      pay.why = fmt::format("case \"{}\" is {} and not approved for {}", c.id, state::CaseStatusName(c.status), period);
      break;
    case Standing::kSuspended:
      pay.blocked_by = RuleId::kPaymentInactive;
      pay.why = fmt::format("case \"{}\" is suspended in {}", c.id, period);
      break;
    case Standing::kPaid: break;
  }
  if (pay.in_force != nullptr) {
    pay.amount_fen = PaymentFen(pay.in_force->monthly_fen, static_cast<Programme>(c.programme));
  }
  if (rules.reviewed && c.review_due != 0 && FirstDayOf(period) > c.review_due) {
    pay.review_overdue =
        fmt::format("payment for {} while the review of case \"{}\" was due on {}", period, c.id, c.review_due);
  }
  return pay;
}

std::optional<int64_t> StandardMonthlyFen(uint16_t programme, std::string_view region_code, uint32_t date,
                                          const LoadStandards& load, state::StandardStep* step) {
  const std::string region(region_code);
  for (size_t len : {12, 9, 6, 4, 2}) {  // The most specific region with a standard wins.
    if (len > region.size()) continue;
    auto standards = load(state::StandardsKey(programme, region.substr(0, len)));
    if (!standards) continue;
    const state::StandardStep* in_force = nullptr;
    for (const auto& s : standards->steps) {
      if (s.effective_date <= date) in_force = &s;
    }
    if (in_force == nullptr) continue;
    if (step != nullptr) *step = *in_force;
    bool yearly = in_force->unit == static_cast<uint16_t>(schema::StandardUnit::PER_PERSON_PER_YEAR);
    return yearly ? (in_force->amount_fen + 11) / 12 : in_force->amount_fen;  // Rounded up: never stricter.
  }
  return std::nullopt;
}

int64_t FormulaMonthlyFen(const state::Case& c, int64_t standard_monthly_fen, uint32_t members) {
  int64_t per_person = standard_monthly_fen;
  if (RulesOf(static_cast<Programme>(c.programme)).gap_based) {
    per_person = std::max<int64_t>(0, standard_monthly_fen - std::max<int64_t>(0, c.per_capita_income_fen));
  }
  return per_person * members;
}

std::optional<AmountInForce> MonthlyAmountInForce(const state::Case& c, std::string_view region_code, uint32_t period,
                                                  const LoadStandards& load) {
  const state::Entitlement* decided = nullptr;
  for (const auto& e : c.entitlements) {
    if (e.from_period <= period) decided = &e;
  }
  if (decided == nullptr) return std::nullopt;
  AmountInForce amount{decided->monthly_fen, decided->members, decided->event_id, false};
  if (RulesOf(static_cast<Programme>(c.programme)).frequency == Frequency::kOnce) return amount;
  state::StandardStep step;
  auto standard = StandardMonthlyFen(c.programme, region_code, FirstDayOf(period), load, &step);
  // A change in the decision's own first month was known to whoever decided: the decision wins.
  if (!standard || PeriodOf(step.effective_date) <= decided->from_period) return amount;
  return AmountInForce{FormulaMonthlyFen(c, *standard, decided->members), decided->members, step.event_id, true};
}

int64_t PaymentFen(int64_t monthly_fen, Programme p) {
  return monthly_fen * (RulesOf(p).frequency == Frequency::kQuarterly ? 3 : 1);
}

std::vector<int64_t> RecoveryShares(int64_t order_fen, const std::vector<int64_t>& amounts_fen) {
  std::vector<int64_t> shares_fen;
  int64_t left_fen = std::max<int64_t>(0, order_fen);
  for (int64_t amount_fen : amounts_fen) {
    shares_fen.push_back(std::min(left_fen, std::max<int64_t>(0, amount_fen)));
    left_fen -= shares_fen.back();
  }
  return shares_fen;
}

std::string PaymentSlotName(const Case& c, uint32_t period) {
  if (RulesOf(static_cast<Programme>(c.programme)).frequency == Frequency::kOnce) return "case/" + c.id;
  return fmt::format("{}/{}", c.programme, period);
}

bool PaymentStands(const state::Payment& p) {
  return p.status != state::PaymentStatus::kVoid;
}

int MonthsPerPayment(Programme p) {
  switch (RulesOf(p).frequency) {
    case Frequency::kMonthly: return 1;
    case Frequency::kQuarterly: return 3;
    case Frequency::kOnce: return 0;
  }
  return 0;
}

Verdict Process(Event::Reader event, const Event::Reader* corrected, state::StateTxn* txn,
                std::string_view submitted_by) {
  // The ledger's own entries (genesis.h) are about the ledger, not the domain: no rule applies.
  if (IsLedgerOwnKind(event.which())) return Verdict{};
  return Checker(event, corrected, txn, submitted_by).Run();
}

}  // namespace ledger::rules
