#include "ledger/domain/state.h"

#include <fmt/format.h>

#include <algorithm>

namespace ledger::state {
namespace {

// Format of every record: kVersion, then the fields in declaration order. Integers are
// little-endian fixed width, strings and lists are a u32 length then their items. State is
// derived from the log, so a new format is introduced by rebuilding, not by migration.
// Version 3 adds fields at the end of a case and of a payment; records of version 2 (written
// before) still read, with those fields empty, so a ledger need not be rebuilt.
constexpr uint8_t kVersion = 3;  // 2: the card on file of a case and of a card use. 3: overpayments.
constexpr uint8_t kOldestVersion = 2;

class Writer {
 public:
  Writer() { U8(kVersion); }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  template <class T, class F>
  void List(const std::vector<T>& items, F&& each) {
    U32(static_cast<uint32_t>(items.size()));
    for (const auto& item : items) each(item);
  }
  std::string Take() { return std::move(out_); }

 private:
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {
    version_ = U8();
    ok_ = version_ >= kOldestVersion && version_ <= kVersion;
  }
  uint8_t version() const { return version_; }
  uint8_t U8() { return static_cast<uint8_t>(Fixed(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Fixed(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  int64_t I64() { return static_cast<int64_t>(Fixed(8)); }
  bool Bool() { return U8() != 0; }
  // A view of the input: assigning it to a string of a record decoded before reuses its memory.
  std::string_view Str() {
    uint32_t n = U32();
    if (!ok_ || n > in_.size() - pos_) return Fail(), std::string_view();
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  template <class T, class F>
  void List(std::vector<T>* items, F&& each) {
    uint32_t n = U32();
    if (!ok_ || n > in_.size() - pos_) return Fail();  // Every item takes at least one byte.
    items->resize(n);
    for (auto& item : *items) each(&item);
  }
  bool Done() const { return ok_ && pos_ == in_.size(); }

 private:
  void Fail() { ok_ = false; }
  uint64_t Fixed(int bytes) {
    if (!ok_ || in_.size() - pos_ < static_cast<size_t>(bytes)) return Fail(), 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    pos_ += bytes;
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
  uint8_t version_ = 0;
};

void PutStrings(Writer& w, const std::vector<std::string>& v) {
  w.List(v, [&](const std::string& s) { w.Str(s); });
}
void GetStrings(Reader& r, std::vector<std::string>* v) {
  r.List(v, [&](std::string* s) { *s = r.Str(); });
}

void PutCase(Writer& w, const Case& c) {
  w.Str(c.id);
  w.U16(c.programme);
  w.U8(static_cast<uint8_t>(c.status));
  w.U8(c.relative_declared);
  PutStrings(w, c.covered);
  w.I64(c.per_capita_income_fen);
  for (const auto* s :
       {&c.application_event, &c.check_event, &c.visit_event, &c.review_event, &c.notice_event, &c.approval_event}) {
    w.Str(*s);
  }
  PutStrings(w, c.check_actors);
  PutStrings(w, c.visit_actors);
  w.U8(c.visit_county_level);
  w.Str(c.review_actor);
  w.U32(c.notice_from);
  w.U32(c.notice_to);
  w.U32(c.notice_posted);
  w.List(c.objections, [&](const Objection& o) {
    w.Str(o.id);
    w.U8(o.resolved);
    w.U8(o.upheld);
    w.U32(o.resolved_date);
  });
  w.Str(c.approver);
  w.U32(c.approval_date);
  w.U32(c.application_date);
  w.List(c.entitlements, [&](const Entitlement& e) {
    w.U32(e.from_period);
    w.I64(e.monthly_fen);
    w.U32(e.members);
    w.Str(e.event_id);
  });
  w.U32(c.review_due);
  w.List(c.suspensions, [&](const Suspension& s) {
    w.U32(s.from_period);
    w.U32(s.until_period);
  });
  w.U32(c.paid_until_period);
  w.List(c.status_history, [&](const std::pair<std::string, CaseStatus>& h) {
    w.Str(h.first);
    w.U8(static_cast<uint8_t>(h.second));
  });
  for (const auto* s : {&c.card_hash, &c.card_masked, &c.payee_name}) w.Str(*s);
  w.U32(c.last_paid_period);
  w.List(c.overpaid, [&](const Overpayment& o) {
    for (const auto* s : {&o.payment_id, &o.payment_event, &o.exit_event}) w.Str(*s);
    w.U32(o.period);
    w.I64(o.amount_fen);
    w.I64(o.ordered_fen);
    w.I64(o.returned_fen);
  });
}

void GetCase(Reader& r, Case* c) {
  c->id = r.Str();
  c->programme = r.U16();
  c->status = static_cast<CaseStatus>(r.U8());
  c->relative_declared = r.Bool();
  GetStrings(r, &c->covered);
  c->per_capita_income_fen = r.I64();
  for (auto* s : {&c->application_event, &c->check_event, &c->visit_event, &c->review_event, &c->notice_event,
                  &c->approval_event}) {
    *s = r.Str();
  }
  GetStrings(r, &c->check_actors);
  GetStrings(r, &c->visit_actors);
  c->visit_county_level = r.Bool();
  c->review_actor = r.Str();
  c->notice_from = r.U32();
  c->notice_to = r.U32();
  c->notice_posted = r.U32();
  r.List(&c->objections, [&](Objection* o) {
    o->id = r.Str();
    o->resolved = r.Bool();
    o->upheld = r.Bool();
    o->resolved_date = r.U32();
  });
  c->approver = r.Str();
  c->approval_date = r.U32();
  c->application_date = r.U32();
  r.List(&c->entitlements, [&](Entitlement* e) {
    e->from_period = r.U32();
    e->monthly_fen = r.I64();
    e->members = r.U32();
    e->event_id = r.Str();
  });
  c->review_due = r.U32();
  r.List(&c->suspensions, [&](Suspension* s) {
    s->from_period = r.U32();
    s->until_period = r.U32();
  });
  c->paid_until_period = r.U32();
  r.List(&c->status_history, [&](std::pair<std::string, CaseStatus>* h) {
    h->first = r.Str();
    h->second = static_cast<CaseStatus>(r.U8());
  });
  for (auto* s : {&c->card_hash, &c->card_masked, &c->payee_name}) *s = r.Str();
  c->last_paid_period = 0;
  c->overpaid.clear();
  if (r.version() < 3) return;
  c->last_paid_period = r.U32();
  r.List(&c->overpaid, [&](Overpayment* o) {
    for (auto* s : {&o->payment_id, &o->payment_event, &o->exit_event}) *s = r.Str();
    o->period = r.U32();
    o->amount_fen = r.I64();
    o->ordered_fen = r.I64();
    o->returned_fen = r.I64();
  });
}

void PutPayment(Writer& w, const Payment& p) {
  for (const auto* s : {&p.id, &p.household, &p.case_id, &p.roll_id, &p.event_id}) w.Str(*s);
  w.U16(p.programme);
  w.U32(p.period);
  w.I64(p.amount_fen);
  w.U8(p.supplementary);
  w.U8(static_cast<uint8_t>(p.status));
  w.I64(p.returned_fen);
}

void GetPayment(Reader& r, Payment* p) {
  for (auto* s : {&p->id, &p->household, &p->case_id, &p->roll_id, &p->event_id}) *s = r.Str();
  p->programme = r.U16();
  p->period = r.U32();
  p->amount_fen = r.I64();
  p->supplementary = r.Bool();
  p->status = static_cast<PaymentStatus>(r.U8());
  p->returned_fen = r.version() < 3 ? 0 : r.I64();
}

}  // namespace

const char* CaseStatusName(CaseStatus s) {
  static constexpr const char* kNames[] = {"applied",  "checked",  "visited",   "reviewed", "noticed",
                                           "approved", "rejected", "suspended", "exited"};
  return kNames[static_cast<size_t>(s)];
}

Case* Household::FindCase(std::string_view id) {
  auto it = std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return c.id == id; });
  return it == cases.end() ? nullptr : &*it;
}

const Member* Household::FindMember(std::string_view person) const {
  auto it = std::find_if(members.begin(), members.end(), [&](const Member& m) { return m.person == person; });
  return it == members.end() ? nullptr : &*it;
}

std::string HouseholdKey(std::string_view id) {
  return "h/" + std::string(id);
}
std::string ActorKey(std::string_view id) {
  return "a/" + std::string(id);
}
std::string ActorPublicKeyKey(std::string_view actor_id) {
  return "v/" + std::string(actor_id);
}
std::string ActorDeactivationKey(std::string_view actor_id) {
  return "x/" + std::string(actor_id);
}
std::string StandardsKey(uint16_t programme, std::string_view prefix) {
  return "s/" + std::to_string(programme) + "/" + std::string(prefix);
}
std::string RollKey(std::string_view id) {
  return "o/" + std::string(id);
}
std::string PersonKey(std::string_view keyed_hash) {
  return "p/" + std::string(keyed_hash);
}
std::string CaseOwnerKey(std::string_view case_id) {
  return "c/" + std::string(case_id);
}
std::string PaymentKey(std::string_view payment_id) {
  return "y/" + std::string(payment_id);
}
std::string CardKey(std::string_view keyed_hash) {
  return "k/" + std::string(keyed_hash);
}
std::string PaymentSlotKey(std::string_view household, std::string_view slot) {
  return "q/" + std::string(household) + '\0' + std::string(slot);  // Ids cannot hold NUL.
}
std::string ApprovalLevelKey(std::string_view prefix) {
  return "l/" + std::string(prefix);
}

std::string RegionHouseholdKey(std::string_view region_code, std::string_view household) {
  return "r/" + std::string(region_code) + '\0' + std::string(household);
}
std::string RegionHouseholdPrefix(std::string_view region_prefix) {
  return "r/" + std::string(region_prefix);
}

std::string RollPaymentKey(std::string_view roll, std::string_view payment) {
  return RollPaymentPrefix(roll) + std::string(payment);
}
std::string RollPaymentPrefix(std::string_view roll) {
  return "z/" + std::string(roll) + '\0';
}

// "t/" region 0x00 programme (2 bytes big-endian) period (4 bytes big-endian): a region prefix
// scan finds every sub-region's totals.
std::string TotalsKey(std::string_view region, uint16_t programme, uint32_t period) {
  std::string k = "t/" + std::string(region) + '\0';
  k.push_back(static_cast<char>(programme >> 8));
  k.push_back(static_cast<char>(programme));
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>(period >> (8 * i)));
  return k;
}
std::string TotalsPrefix(std::string_view region_prefix) {
  return "t/" + std::string(region_prefix);
}

bool ParseTotalsKey(std::string_view key, std::string* region, uint16_t* programme, uint32_t* period) {
  if (key.size() < 2 + 1 + 6 || key.substr(0, 2) != "t/" || key[key.size() - 7] != '\0') return false;
  *region = std::string(key.substr(2, key.size() - 9));
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(key[key.size() - 6 + i])); };
  *programme = static_cast<uint16_t>(byte(0) << 8 | byte(1));
  *period = byte(2) << 24 | byte(3) << 16 | byte(4) << 8 | byte(5);
  return true;
}

Totals& Totals::operator+=(const Totals& o) {
  allocated_fen += o.allocated_fen;
  issued_fen += o.issued_fen;
  settled_fen += o.settled_fen;
  failed_fen += o.failed_fen;
  returned_fen += o.returned_fen;
  recovered_fen += o.recovered_fen;
  payments += o.payments;
  household_months += o.household_months;
  person_months += o.person_months;
  return *this;
}

std::string Encode(const Totals& v) {
  Writer w;
  for (int64_t x : {v.allocated_fen, v.issued_fen, v.settled_fen, v.failed_fen, v.returned_fen, v.recovered_fen,
                    v.payments, v.household_months, v.person_months}) {
    w.I64(x);
  }
  return w.Take();
}

bool Decode(std::string_view in, Totals* v) {
  Reader r(in);
  for (int64_t* x : {&v->allocated_fen, &v->issued_fen, &v->settled_fen, &v->failed_fen, &v->returned_fen,
                     &v->recovered_fen, &v->payments, &v->household_months, &v->person_months}) {
    *x = r.I64();
  }
  return r.Done();
}

std::string Encode(const Household& v) {
  Writer w;
  w.Str(v.region_code);
  w.Str(v.registered_event);
  w.List(v.members, [&](const Member& m) {
    w.Str(m.person);
    w.Str(m.masked);
    w.Str(m.name);
  });
  w.List(v.cases, [&](const Case& c) { PutCase(w, c); });
  PutStrings(w, v.corrected);
  return w.Take();
}

bool Decode(std::string_view in, Household* v) {
  Reader r(in);
  v->region_code = r.Str();
  v->registered_event = r.Str();
  r.List(&v->members, [&](Member* m) {
    m->person = r.Str();
    m->masked = r.Str();
    m->name = r.Str();
  });
  r.List(&v->cases, [&](Case* c) { GetCase(r, c); });
  GetStrings(r, &v->corrected);
  return r.Done();
}

std::string Encode(const Actor& v) {
  Writer w;
  w.U16(v.role);
  w.Str(v.jurisdiction);
  w.Str(v.event_id);
  return w.Take();
}

bool Decode(std::string_view in, Actor* v) {
  Reader r(in);
  v->role = r.U16();
  v->jurisdiction = r.Str();
  v->event_id = r.Str();
  return r.Done();
}

std::string Encode(const ActorPublicKey& v) {
  Writer w;
  w.Str(v.verifier_key);
  w.Str(v.event_id);
  return w.Take();
}

bool Decode(std::string_view in, ActorPublicKey* v) {
  Reader r(in);
  v->verifier_key = r.Str();
  v->event_id = r.Str();
  return r.Done();
}

std::string Encode(const ActorDeactivation& v) {
  Writer w;
  w.Str(v.event_id);
  w.Str(v.reason);
  return w.Take();
}

bool Decode(std::string_view in, ActorDeactivation* v) {
  Reader r(in);
  v->event_id = r.Str();
  v->reason = r.Str();
  return r.Done();
}

std::string Encode(const Standards& v) {
  Writer w;
  w.List(v.steps, [&](const StandardStep& s) {
    w.U32(s.effective_date);
    w.I64(s.amount_fen);
    w.U16(s.unit);
    w.Str(s.event_id);
  });
  return w.Take();
}

bool Decode(std::string_view in, Standards* v) {
  Reader r(in);
  r.List(&v->steps, [&](StandardStep* s) {
    s->effective_date = r.U32();
    s->amount_fen = r.I64();
    s->unit = r.U16();
    s->event_id = r.Str();
  });
  return r.Done();
}

std::string Encode(const Roll& v) {
  Writer w;
  w.Str(v.county);
  w.Str(v.event_id);
  w.U16(v.programme);
  for (uint32_t x : {v.period, v.line_count, v.lines_issued}) w.U32(x);
  w.I64(v.control_sum_fen);
  w.I64(v.sum_issued_fen);
  return w.Take();
}

bool Decode(std::string_view in, Roll* v) {
  Reader r(in);
  v->county = r.Str();
  v->event_id = r.Str();
  v->programme = r.U16();
  for (uint32_t* x : {&v->period, &v->line_count, &v->lines_issued}) *x = r.U32();
  v->control_sum_fen = r.I64();
  v->sum_issued_fen = r.I64();
  return r.Done();
}

std::string Encode(const Person& v) {
  Writer w;
  PutStrings(w, v.households);
  w.List(v.active, [&](const Person::ActiveCase& a) {
    w.Str(a.household);
    w.Str(a.case_id);
    w.U16(a.programme);
  });
  PutStrings(w, v.staff_relatives);
  return w.Take();
}

bool Decode(std::string_view in, Person* v) {
  Reader r(in);
  GetStrings(r, &v->households);
  r.List(&v->active, [&](Person::ActiveCase* a) {
    a->household = r.Str();
    a->case_id = r.Str();
    a->programme = r.U16();
  });
  GetStrings(r, &v->staff_relatives);
  return r.Done();
}

std::string Encode(const CaseOwner& v) {
  Writer w;
  w.Str(v.household);
  return w.Take();
}

bool Decode(std::string_view in, CaseOwner* v) {
  Reader r(in);
  v->household = r.Str();
  return r.Done();
}

std::string Encode(const ApprovalLevel& v) {
  Writer w;
  w.U16(v.level);
  return w.Take();
}

bool Decode(std::string_view in, ApprovalLevel* v) {
  Reader r(in);
  v->level = r.U16();
  return r.Done();
}

std::string Encode(const Payment& v) {
  Writer w;
  PutPayment(w, v);
  return w.Take();
}

bool Decode(std::string_view in, Payment* v) {
  Reader r(in);
  GetPayment(r, v);
  return r.Done();
}

std::string Encode(const PaymentSlot& v) {
  Writer w;
  PutStrings(w, v.payment_ids);
  return w.Take();
}

bool Decode(std::string_view in, PaymentSlot* v) {
  Reader r(in);
  GetStrings(r, &v->payment_ids);
  return r.Done();
}

std::string Encode(const CardUse& v) {
  Writer w;
  PutStrings(w, v.households);
  w.Str(v.masked);
  return w.Take();
}

bool Decode(std::string_view in, CardUse* v) {
  Reader r(in);
  GetStrings(r, &v->households);
  v->masked = r.Str();
  return r.Done();
}

void StateTxn::FailDecode(const std::string& key) {
  Fail(Status::Corruption(fmt::format("state record {} does not read; rebuild the state", key)));
}

}  // namespace ledger::state
