#include "wire.h"

#include <string>

namespace ledgerd {

using ledger::Status;
using Code = Status::Code;

void ToWire(const Status& s, rpc::Failure::Builder out) {
  out.setCode(static_cast<uint8_t>(s.code()));
  out.setField(s.field());
  out.setReason(s.reason());
}

Status FromWire(rpc::Failure::Reader failure) {
  std::string field = failure.getField(), reason = failure.getReason();
  switch (static_cast<Code>(failure.getCode())) {
    case Code::kOk: return Status::Ok();
    case Code::kInvalidArgument: return Status::Invalid(field, reason);
    case Code::kNotFound: return Status::NotFound(reason, field);
    case Code::kConflict: return Status::Conflict(field, reason);
    case Code::kCorruption: return Status::Corruption(reason);
    case Code::kBusy: return Status::Busy(reason);
    default: return Status::IOError(reason);
  }
}

void ToWire(const ledger::AppendResult& r, rpc::AppendOutcome::Builder out) {
  using Outcome = ledger::AppendResult::Outcome;
  out.setStatus(r.outcome == Outcome::kCreated  ? rpc::AppendStatus::CREATED
                : r.outcome == Outcome::kExists ? rpc::AppendStatus::EXISTS
                                                : rpc::AppendStatus::ERROR);
  out.setSeq(r.seq);
  if (r.outcome == Outcome::kCreated) out.setHash(capnp::Data::Reader(r.hash.data(), r.hash.size()));
  if (r.outcome == Outcome::kRejected) ToWire(r.error, out.initError());
  auto findings = out.initFindings(static_cast<unsigned>(r.findings.size()));
  for (size_t i = 0; i < r.findings.size(); ++i) {
    findings[i].setRule(r.findings[i].rule);
    findings[i].setMessage(r.findings[i].message);
    auto ids = findings[i].initEventIds(static_cast<unsigned>(r.findings[i].event_ids.size()));
    for (size_t j = 0; j < r.findings[i].event_ids.size(); ++j) ids.set(j, r.findings[i].event_ids[j]);
  }
  out.setDroppedWithGroup(r.dropped_with_group);
}

ledger::AppendResult FromWire(rpc::AppendOutcome::Reader outcome) {
  using Outcome = ledger::AppendResult::Outcome;
  ledger::AppendResult r;
  switch (outcome.getStatus()) {
    case rpc::AppendStatus::CREATED: r.outcome = Outcome::kCreated; break;
    case rpc::AppendStatus::EXISTS: r.outcome = Outcome::kExists; break;
    default: r.outcome = Outcome::kRejected; break;
  }
  r.seq = outcome.getSeq();
  auto hash = outcome.getHash();
  if (hash.size() == r.hash.size()) std::copy(hash.begin(), hash.end(), r.hash.begin());
  if (r.outcome == Outcome::kRejected) r.error = FromWire(outcome.getError());
  for (auto f : outcome.getFindings()) {
    ledger::Finding finding{f.getRule(), f.getMessage(), {}};
    for (auto id : f.getEventIds()) finding.event_ids.push_back(id);
    r.findings.push_back(std::move(finding));
  }
  r.dropped_with_group = outcome.getDroppedWithGroup();
  return r;
}

}  // namespace ledgerd
