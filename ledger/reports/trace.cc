#include "ledger/reports/trace.h"

#include <capnp/dynamic.h>
#include <fmt/format.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <set>

#include "ledger/core/entry.h"
#include "ledger/domain/validate.h"

namespace ledger::trace {
namespace {

// The caseId (or paymentId) field of an event's kind, or "".
std::string KindField(schema::Event::Reader event, const char* name) {
  capnp::DynamicStruct::Reader dynamic = event;
  KJ_IF_MAYBE (kind_field, dynamic.which()) {
    if (!kind_field->getType().isStruct()) return "";
    auto kind = dynamic.get(*kind_field).as<capnp::DynamicStruct>();
    KJ_IF_MAYBE (f, kind.getSchema().findFieldByName(name)) {
      if (f->getType().isText()) return kind.get(*f).as<capnp::Text>().cStr();
    }
  }
  return "";
}

// Folds one household's entries into chains and flags.
class HouseholdFold {
 public:
  explicit HouseholdFold(std::string household) : household_(std::move(household)) {}

  void Add(const HouseholdEntry& e, schema::Entry::Reader entry) {
    auto event = entry.getEvent();
    for (auto f : entry.getFindings()) {
      RedFlag flag{e.seq, household_, {f.getRule(), f.getMessage(), {}}};
      for (auto id : f.getEventIds()) flag.finding.event_ids.emplace_back(id);
      flags_.push_back(std::move(flag));
    }
    std::string case_id = KindField(event, "caseId");
    std::string payment_id = KindField(event, "paymentId");
    if (case_id.empty() && !payment_id.empty()) case_id = payment_case_[payment_id];
    if (case_id.empty()) return;
    Chain& chain = ChainOf(case_id);
    if (event.isApplicationSubmitted())
      chain.programme = static_cast<uint16_t>(event.getApplicationSubmitted().getProgramme());
    if (event.isPaymentIssued()) {
      payment_case_[payment_id] = case_id;
      chain.payments += 1;
      chain.paid_fen += event.getPaymentIssued().getAmountFen();
      std::string payer = event.getActorId();
      if (std::find(chain.payers.begin(), chain.payers.end(), payer) == chain.payers.end())
        chain.payers.push_back(payer);
      return;
    }
    std::string submitter = entry.getSubmittedBy();
    if (submitter == event.getActorId().cStr()) submitter.clear();  // Its actor's own submission.
    chain.steps[KindName(event)] = Step{event.getBusinessDate(), ActorIdsOf(event), e.seq, std::move(submitter)};
  }

  void Into(Trace* out, const std::string& only_actor = "") {
    for (auto& [id, chain] : chains_) {
      bool involved = only_actor.empty() ||
                      std::find(chain.payers.begin(), chain.payers.end(), only_actor) != chain.payers.end() ||
                      std::any_of(chain.steps.begin(), chain.steps.end(), [&](const auto& s) {
                        const auto& a = s.second.actors;
                        return std::find(a.begin(), a.end(), only_actor) != a.end();
                      });
      if (involved) out->chains.push_back(std::move(chain));
    }
    for (auto& f : flags_) out->flags.push_back(std::move(f));
  }

 private:
  Chain& ChainOf(const std::string& case_id) {
    Chain& c = chains_[case_id];
    c.household = household_;
    c.case_id = case_id;
    return c;
  }
  std::string household_;
  std::map<std::string, Chain> chains_;
  std::map<std::string, std::string> payment_case_;
  std::vector<RedFlag> flags_;
};

Status Fold(const Log& ledger, std::string_view household, Trace* out, const std::string& only_actor,
            const std::set<uint64_t>* flag_seqs) {
  HouseholdFold fold{std::string(household)};
  Status inner;
  Status s = ledger.ReadHousehold(household, [&](const HouseholdEntry& e) {
    EntryReader reader;
    if (!inner.ok() || !(inner = reader.Init(e.bytes)).ok()) return;
    fold.Add(e, reader.entry());
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  Trace one;
  fold.Into(&one, only_actor);
  for (auto& c : one.chains) out->chains.push_back(std::move(c));
  for (auto& f : one.flags) {
    if (flag_seqs == nullptr || flag_seqs->count(f.seq)) out->flags.push_back(std::move(f));
  }
  return Status::Ok();
}

}  // namespace

Status ForHousehold(const Log& ledger, std::string_view household, Trace* out) {
  *out = Trace{};
  return Fold(ledger, household, out, "", nullptr);
}

Status ForActor(const Log& ledger, std::string_view actor, Trace* out) {
  *out = Trace{};
  const Store& store = ledger.store();
  std::string limit = ScopedLimit(actor);
  rocksdb::Slice upper(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kActor, ro));
  std::set<std::string> households;
  std::set<uint64_t> seqs;
  for (it->Seek(ScopedPrefix(actor)); it->Valid(); it->Next()) {
    std::string id;
    uint64_t seq = 0;
    if (!ParseScopedSeqKey(it->key().ToStringView(), &id, &seq))
      return Status::Corruption("a malformed actor index entry");
    std::string bytes;
    EntryReader reader;
    Status s = ledger.ReadEntry(seq, &bytes);
    if (!s.ok() || !(s = reader.Init(bytes)).ok())
      return Status::Corruption(fmt::format("seq {}: {}", seq, s.ToString()));
    seqs.insert(seq);
    std::string household = reader.entry().getEvent().getHouseholdId();
    if (!household.empty()) households.insert(household);
    for (auto f : reader.entry().getFindings()) {  // Flags on entries of no household.
      if (!household.empty()) continue;
      RedFlag flag{seq, "", {f.getRule(), f.getMessage(), {}}};
      for (auto e : f.getEventIds()) flag.finding.event_ids.emplace_back(e);
      out->flags.push_back(std::move(flag));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the actor index");
  if (seqs.empty())
    return Status::NotFound(fmt::format("actor \"{}\" has recorded nothing in the ledger", actor), "actor");
  for (const auto& h : households) {
    Status s = Fold(ledger, h, out, std::string(actor), &seqs);
    if (!s.ok()) return s;
  }
  std::sort(out->flags.begin(), out->flags.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return Status::Ok();
}

Status ForRegion(const Log& ledger, std::string_view region_prefix, Trace* out) {
  *out = Trace{};
  const Store& store = ledger.store();
  std::string prefix = state::RegionHouseholdPrefix(region_prefix), limit = prefix + '\xff';
  rocksdb::Slice upper(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kState, ro));
  size_t households = 0;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    state::CaseOwner owner;
    if (!state::Decode(it->value().ToStringView(), &owner))
      return Status::Corruption("a region index record does not read (run rebuild)");
    Status s = Fold(ledger, owner.household, out, "", nullptr);
    if (!s.ok()) return s;
    ++households;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the region index");
  if (households == 0) return Status::NotFound(fmt::format("no household in region {}", region_prefix), "region");
  return Status::Ok();
}

}  // namespace ledger::trace
