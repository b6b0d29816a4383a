// Domain state: what the rules (rules.h) need to know about households, cases, payments,
// actors, standards, rolls and people, kept current on every append so that checking an event
// never replays a history.
//
// Every record is derived from the log alone. It lives in the `state` column family (see
// STORAGE.md), keyed by a one-letter prefix, encoded by the small binary codec below, and
// written in the same WriteBatch as the entry that changed it. StateTxn is the rules' view: it
// reads through to a StateSource (the database plus the group being appended) and collects
// writes, which the ledger commits only if the event is accepted. Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"
#include "ledger/core/state_machine.h"

namespace ledger::state {

// ---------------------------------------------------------------------------------------------
// Records

enum class CaseStatus : uint8_t {
  kApplied,
  kChecked,
  kVisited,
  kReviewed,
  kNoticed,
  kApproved,
  kRejected,
  kSuspended,
  kExited
};
const char* CaseStatusName(CaseStatus s);

struct Objection {
  std::string id;
  bool resolved = false;
  bool upheld = false;
  uint32_t resolved_date = 0;  // YYYYMMDD
};

struct Entitlement {         // In force from a month on.
  uint32_t from_period = 0;  // YYYYMM
  int64_t monthly_fen = 0;
  uint32_t members = 0;
  std::string event_id;
};

struct Suspension {
  uint32_t from_period = 0;
  uint32_t until_period = 0;  // First month paid again; 0 while suspended.
};

// A payment for a month after its case's exit (and its gradual-exit months): money to recover
// (追回). Found when an exit is recorded after months it ends were already paid (rules.cc,
// exit.overpayment), or when a payment after an exit is recorded under the record policy
// (payment.after_exit). Kept on its case until the payment turns out not to have been paid out
// (failed, or annulled by a correction) or the exit is annulled.
struct Overpayment {
  std::string payment_id, payment_event, exit_event;
  uint32_t period = 0;       // YYYYMM the payment was for.
  int64_t amount_fen = 0;    // As issued.
  int64_t ordered_fen = 0;   // Recovery ordered against it (recoveryOrdered).
  int64_t returned_fen = 0;  // Returned by the bank (paymentReturned).
};

struct Case {  // One application, from submission to exit.
  std::string id;
  uint16_t programme = 0;  // schema::Programme
  CaseStatus status = CaseStatus::kApplied;
  bool relative_declared = false;      // The application declared a relative of staff.
  std::vector<std::string> covered;    // Keyed hashes of covered people; empty: whole household.
  int64_t per_capita_income_fen = -1;  // From the economic check; -1 before it.
  std::string application_event, check_event, visit_event, review_event, notice_event, approval_event;
  std::vector<std::string> check_actors, visit_actors;
  bool visit_county_level = false;
  std::string review_actor;
  uint32_t notice_from = 0, notice_to = 0, notice_posted = 0;  // YYYYMMDD
  std::vector<Objection> objections;
  std::string approver;
  uint32_t approval_date = 0;
  uint32_t application_date = 0;          // YYYYMMDD
  std::vector<Entitlement> entitlements;  // In order of from_period.
  uint32_t review_due = 0;                // YYYYMMDD, 0 if none.
  std::vector<Suspension> suspensions;
  uint32_t paid_until_period = 0;  // After an exit: the last month that may be paid (gradual exit included).
  // Status before each status-changing event, newest last: lets a correction undo one.
  std::vector<std::pair<std::string, CaseStatus>> status_history;
  // The card on file: the one given at application or paid to last, and the payee's name.
  std::string card_hash, card_masked, payee_name;
  uint32_t last_paid_period = 0;      // The latest month a payment was issued for (voided ones too).
  std::vector<Overpayment> overpaid;  // Payments for months after the exit, in the order found.
};

enum class PaymentStatus : uint8_t { kIssued, kSettled, kFailed, kReturned, kVoid };

struct Payment {  // Kept under PaymentKey, apart from its household: a household's record does
                  // not grow with every month paid.
  std::string id, household, case_id, roll_id, event_id;
  uint16_t programme = 0;
  uint32_t period = 0;
  int64_t amount_fen = 0;
  bool supplementary = false;
  PaymentStatus status = PaymentStatus::kIssued;
  int64_t returned_fen = 0;  // What the bank returned of it (paymentReturned).
};

struct Member {
  std::string person;  // Keyed hash (32 bytes).
  std::string masked, name;
};

struct Household {
  std::string region_code;
  std::string registered_event;
  std::vector<Member> members;
  std::vector<Case> cases;
  std::vector<std::string> corrected;  // Event ids annulled or amended by corrections.

  Case* FindCase(std::string_view id);
  const Member* FindMember(std::string_view person) const;
};

struct Actor {
  uint16_t role = 0;  // schema::Role
  std::string jurisdiction, event_id;
};

// An actor's Ed25519 public key (signing.h). Kept apart from Actor so that records written
// before keys existed still read: an actor without this record has no key.
struct ActorPublicKey {
  std::string verifier_key;  // note.h verifier key text; empty: the key was removed.
  std::string event_id;      // The actorRegistered or actorKeySet that set it.
};

// An actor's deactivation (actorDeactivated). Kept apart from Actor, as ActorPublicKey is: an
// actor without this record is active.
struct ActorDeactivation {
  std::string event_id;  // The actorDeactivated.
  std::string reason;
};

struct StandardStep {  // One standard from a date on.
  uint32_t effective_date = 0;
  int64_t amount_fen = 0;
  uint16_t unit = 0;  // schema::StandardUnit
  std::string event_id;
};
struct Standards {
  std::vector<StandardStep> steps;  // In order of effective_date.
};

struct Roll {
  std::string county, event_id;
  uint16_t programme = 0;
  uint32_t period = 0, line_count = 0, lines_issued = 0;
  int64_t control_sum_fen = 0, sum_issued_fen = 0;
};

struct Person {                         // Keyed by the person's keyed hash.
  std::vector<std::string> households;  // Where the person is a member now.
  struct ActiveCase {
    std::string household, case_id;
    uint16_t programme = 0;
  };
  std::vector<ActiveCase> active;            // Approved, not exited cases covering the person.
  std::vector<std::string> staff_relatives;  // Actors who declared the person a close relative.
};

struct CardUse {  // Keyed by a card's keyed hash: the households it is on file for.
  std::vector<std::string> households;
  std::string masked;
};

struct CaseOwner {  // Which household a case id belongs to.
  std::string household;
};

struct PaymentSlot {  // The payments of one household for one programme and month (or one case, if one-off).
  std::vector<std::string> payment_ids;
};

struct ApprovalLevel {
  uint16_t level = 0;  // schema::ApprovalLevel
};

// Funding totals of one programme, region and month (projections.h keeps them).
struct Totals {
  int64_t allocated_fen = 0, issued_fen = 0, settled_fen = 0, failed_fen = 0, returned_fen = 0, recovered_fen = 0;
  int64_t payments = 0;          // Payments issued (supplementary ones included).
  int64_t household_months = 0;  // 户次: regular payments.
  int64_t person_months = 0;     // 人次: people those payments cover.
  Totals& operator+=(const Totals& o);
  bool operator==(const Totals&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Keys (one-letter prefix ‖ id)

std::string HouseholdKey(std::string_view id);
std::string ActorKey(std::string_view id);
std::string ActorPublicKeyKey(std::string_view actor_id);
std::string ActorDeactivationKey(std::string_view actor_id);
std::string StandardsKey(uint16_t programme, std::string_view region_prefix);
std::string RollKey(std::string_view id);
std::string PersonKey(std::string_view keyed_hash);
std::string CaseOwnerKey(std::string_view case_id);
std::string PaymentKey(std::string_view payment_id);
std::string CardKey(std::string_view keyed_hash);
// `slot` is "<programme>/<period>", or "case/<case id>" for one-off programmes.
std::string PaymentSlotKey(std::string_view household, std::string_view slot);
std::string ApprovalLevelKey(std::string_view region_prefix);
// Households by region (value: CaseOwner naming the household), for region queries.
std::string RegionHouseholdKey(std::string_view region_code, std::string_view household);
std::string RegionHouseholdPrefix(std::string_view region_prefix);
// Payments by roll (value: CaseOwner naming the household), for reconciliation.
std::string RollPaymentKey(std::string_view roll, std::string_view payment);
std::string RollPaymentPrefix(std::string_view roll);
// Totals of a region (code or prefix), programme and month.
std::string TotalsKey(std::string_view region, uint16_t programme, uint32_t period);
std::string TotalsPrefix(std::string_view region_prefix);
bool ParseTotalsKey(std::string_view key, std::string* region, uint16_t* programme, uint32_t* period);

// ---------------------------------------------------------------------------------------------
// Codec: each record to and from bytes (format version byte first). Decoding into a record that
// was decoded into before reuses its strings and lists: a reader of many records (reconcile.cc)
// decodes them all into one, and allocates only for a record larger than those before it.

std::string Encode(const Household& v);
std::string Encode(const Actor& v);
std::string Encode(const ActorPublicKey& v);
std::string Encode(const ActorDeactivation& v);
std::string Encode(const Standards& v);
std::string Encode(const Roll& v);
std::string Encode(const Person& v);
std::string Encode(const CaseOwner& v);
std::string Encode(const ApprovalLevel& v);
std::string Encode(const Payment& v);
std::string Encode(const PaymentSlot& v);
std::string Encode(const Totals& v);
std::string Encode(const CardUse& v);
bool Decode(std::string_view in, Household* v);
bool Decode(std::string_view in, Actor* v);
bool Decode(std::string_view in, ActorPublicKey* v);
bool Decode(std::string_view in, ActorDeactivation* v);
bool Decode(std::string_view in, Standards* v);
bool Decode(std::string_view in, Roll* v);
bool Decode(std::string_view in, Person* v);
bool Decode(std::string_view in, CaseOwner* v);
bool Decode(std::string_view in, ApprovalLevel* v);
bool Decode(std::string_view in, Payment* v);
bool Decode(std::string_view in, PaymentSlot* v);
bool Decode(std::string_view in, Totals* v);
bool Decode(std::string_view in, CardUse* v);

// ---------------------------------------------------------------------------------------------
// Access

// Where committed state comes from: the core defines it (core/state_machine.h).
using StateSource = ledger::StateSource;

// One event's view of the state: reads see its own writes first. Nothing reaches the source;
// the caller takes writes() when the event is accepted, and only if status() is ok.
class StateTxn {
 public:
  explicit StateTxn(StateSource* source) : source_(source) {}

  // Loads a record; nullopt if absent, or if it could not be read (then status() says why).
  template <class T>
  std::optional<T> Load(const std::string& key) {
    std::string bytes;
    if (auto it = writes_.find(key); it != writes_.end()) {
      bytes = it->second;
    } else {
      bool found = false;
      Status s = source_->Get(key, &bytes, &found);
      if (!s.ok()) {
        Fail(std::move(s));
        return std::nullopt;
      }
      if (!found) return std::nullopt;
    }
    T value;
    if (!Decode(bytes, &value)) {
      FailDecode(key);
      return std::nullopt;
    }
    return value;
  }
  template <class T>
  void Store(const std::string& key, const T& value) {
    writes_[key] = Encode(value);
  }

  const std::map<std::string, std::string>& writes() const { return writes_; }
  // Ok, or the first read that failed: the source's error (IOError), or Corruption naming a
  // record that does not decode. What the rules decided after it rests on a record they did
  // not see: the event is refused with this status and nothing of it is written.
  const Status& status() const { return status_; }

 private:
  void Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
  }
  void FailDecode(const std::string& key);

  StateSource* source_;
  std::map<std::string, std::string> writes_;
  Status status_;
};

}  // namespace ledger::state
