#include "wire.h"

#include <capnp/dynamic.h>
#include <fmt/format.h>

#include <cstring>
#include <string>

#include "benefit_ledger/format.h"

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

namespace {

Status CheckText(capnp::Text::Reader text) {
  if (std::strlen(text.cStr()) != text.size()) {
    return Status::Invalid("", fmt::format("holds a NUL byte (at byte {})", std::strlen(text.cStr()) + 1));
  }
  size_t bad = 0;
  if (!ledger::IsValidUtf8(std::string_view(text.cStr(), text.size()), &bad)) {
    return Status::Invalid("", fmt::format("is not valid UTF-8 (byte {})", bad + 1));
  }
  return Status::Ok();
}

Status CopyKnown(capnp::DynamicStruct::Reader in, capnp::DynamicStruct::Builder out);

Status CopyValue(capnp::StructSchema::Field field, capnp::DynamicStruct::Reader in, capnp::DynamicStruct::Builder out) {
  auto type = field.getType();
  if (type.isStruct()) {
    return CopyKnown(in.get(field).as<capnp::DynamicStruct>(), out.init(field).as<capnp::DynamicStruct>());
  }
  if (type.isText()) {
    Status s = CheckText(in.get(field).as<capnp::Text>());
    if (!s.ok()) return s;
  }
  if (type.isList()) {
    auto from = in.get(field).as<capnp::DynamicList>();
    auto element = type.asList().getElementType();
    if (element.isStruct() || element.isText()) {
      auto to = out.init(field, from.size()).as<capnp::DynamicList>();
      for (unsigned i = 0; i < from.size(); ++i) {
        Status s = element.isText() ? CheckText(from[i].as<capnp::Text>())
                                    : CopyKnown(from[i].as<capnp::DynamicStruct>(), to[i].as<capnp::DynamicStruct>());
        if (!s.ok()) return s.WithFieldPrefix(fmt::format("[{}]", i));
        if (element.isText()) to.set(i, from[i]);
      }
      return Status::Ok();
    }
  }
  out.set(field, in.get(field));  // Numbers, enums, Data, lists of those: no room for hidden data.
  return Status::Ok();
}

// Every field of `in` that the schema knows and that is set (the active union member included).
Status CopyKnown(capnp::DynamicStruct::Reader in, capnp::DynamicStruct::Builder out) {
  for (auto field : in.getSchema().getFields()) {
    if (!in.has(field)) continue;  // A pointer that is null, or a union member that is not the one set.
    Status s = CopyValue(field, in, out);
    if (!s.ok()) return s.WithFieldPrefix(field.getProto().getName());
  }
  return Status::Ok();
}

}  // namespace

Status CopyEvent(ledger::schema::Event::Reader event, capnp::MessageBuilder* out) {
  Status s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { s = CopyKnown(event, out->initRoot<ledger::schema::Event>()); })) {
    return Status::Invalid("", fmt::format("the event does not read: {}", e->getDescription().cStr()));
  }
  return s;
}

}  // namespace ledgerd
