// ledgerctl cluster status: a replicated ledger as etcd holds it (tools/ledgerd/cluster_layout.h):
// its head, its leader, each member's applied head and lag, and etcd's own members. It reads etcd
// only, so it works whichever ledgerd nodes are up.
#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "benefit_ledger/format.h"
#include "commands.h"
#include "ledgerd/cluster_layout.h"
#include "ledgerd/etcd.h"

namespace tools {
namespace {

namespace c = ledgerd::cluster;
namespace etcd = ledgerd::etcd;
using ledger::Status;

struct ClusterView {
  std::string ledger_id;
  uint64_t head_seq = 0;
  std::string head_hash;        // Hex; "" if the cluster has no head yet.
  std::string leader, address;  // "" if no node leads.
  int64_t term = 0;
  std::vector<c::MemberRecord> members;
  int64_t groups_held = 0;
  struct Etcd {
    std::string endpoint, error, version;
    bool leads = false;
    int64_t db_bytes = 0;
  };
  std::vector<Etcd> etcd;
};

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    size_t comma = std::min(text.find(',', at), text.size());
    if (comma > at) out.push_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

Status ReadView(etcd::Client* client, const std::vector<std::string>& endpoints, ClusterView* v) {
  const std::string p = c::Prefix(v->ledger_id);
  etcd::RangeResult head, leader, members, groups;
  Status s = client->Range(c::HeadKey(p), "", 0, &head);
  if (s.ok()) s = client->Range(c::LeaderKey(p), "", 0, &leader);
  if (s.ok()) s = client->Range(c::MembersPrefix(p), etcd::PrefixEnd(c::MembersPrefix(p)), 0, &members);
  if (s.ok()) s = client->Range(c::GroupsPrefix(p), etcd::PrefixEnd(c::GroupsPrefix(p)), 1, &groups);
  if (!s.ok()) return s;
  ledger::Hash hash{};
  if (!head.kvs.empty() && c::ParseHead(head.kvs[0].value, &v->head_seq, &hash)) v->head_hash = c::HashHex(hash);
  if (!leader.kvs.empty()) {
    const std::string& value = leader.kvs[0].value;
    v->leader = value.substr(0, value.find(' '));
    v->address = value.find(' ') == std::string::npos ? "" : value.substr(value.find(' ') + 1);
    v->term = leader.kvs[0].create_revision;
  }
  for (const auto& kv : members.kvs) v->members.push_back(c::DecodeMember(kv.value));
  v->groups_held = groups.count;
  for (const auto& endpoint : endpoints) {
    etcd::EndpointStatus st;
    ClusterView::Etcd e{endpoint, "", "", false, 0};
    if (Status es = client->Status(endpoint, &st); !es.ok()) {
      e.error = es.ToString();
    } else {
      e.version = st.version, e.leads = st.leader_id == st.member_id, e.db_bytes = st.db_size_bytes;
    }
    v->etcd.push_back(e);
  }
  return Status::Ok();
}

int64_t AgeMs(const c::MemberRecord& m) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return now.count() - m.updated_unix_ms;
}

uint64_t Lag(const ClusterView& v, const c::MemberRecord& m) {
  return v.head_seq > m.applied_seq ? v.head_seq - m.applied_seq : 0;
}

void PrintJson(const ClusterView& v) {
  using ledger::JsonString;
  std::string members, etcds;
  for (const auto& m : v.members) {
    members += fmt::format(
        "{}{{\"node\":{},\"address\":{},\"role\":{},\"appliedSeq\":{},\"appliedHash\":{},\"lag\":{},"
        "\"recordAgeMs\":{},\"error\":{}}}",
        members.empty() ? "" : ",", JsonString(m.node), JsonString(m.address), JsonString(m.role), m.applied_seq,
        JsonString(m.applied_hash), Lag(v, m), AgeMs(m), JsonString(m.error));
  }
  for (const auto& e : v.etcd) {
    etcds += fmt::format("{}{{\"endpoint\":{},\"ok\":{},\"leader\":{},\"version\":{},\"dbBytes\":{},\"error\":{}}}",
                         etcds.empty() ? "" : ",", JsonString(e.endpoint), e.error.empty(), e.leads,
                         JsonString(e.version), e.db_bytes, JsonString(e.error));
  }
  fmt::print(
      "{{\"ledgerId\":{},\"headSeq\":{},\"headHash\":{},\"leader\":{},\"leaderAddress\":{},\"term\":{},"
      "\"groupsHeld\":{},\"members\":[{}],\"etcd\":[{}]}}\n",
      JsonString(v.ledger_id), v.head_seq, JsonString(v.head_hash), JsonString(v.leader), JsonString(v.address), v.term,
      v.groups_held, members, etcds);
}

void PrintTable(const ClusterView& v) {
  fmt::print("ledger {}: head seq {} {}\n", v.ledger_id, v.head_seq, v.head_hash.empty() ? "(none yet)" : v.head_hash);
  fmt::print("leader: {}\n", v.leader.empty() ? "none (a member takes over within its lease)"
                                              : fmt::format("{} at {} (term {})", v.leader, v.address, v.term));
  fmt::print("groups held in etcd (not yet applied by every member): {}\n\n", v.groups_held);
  fmt::print("{:<12} {:<9} {:<22} {:>12} {:>8} {:>10}  {}\n", "member", "role", "address", "applied seq", "lag",
             "record age", "error");
  for (const auto& m : v.members) {
    fmt::print("{:<12} {:<9} {:<22} {:>12} {:>8} {:>8.1f} s  {}\n", m.node, m.role, m.address, m.applied_seq, Lag(v, m),
               AgeMs(m) / 1000.0, m.error);
  }
  fmt::print("\n{:<28} {:<8} {:<7} {:>12}  {}\n", "etcd member", "version", "leader", "db bytes", "error");
  for (const auto& e : v.etcd) {
    fmt::print("{:<28} {:<8} {:<7} {:>12}  {}\n", e.endpoint, e.version, e.leads ? "yes" : "", e.db_bytes, e.error);
  }
}

}  // namespace

const char* const kClusterUsage =
    "usage: ledgerctl cluster status --etcd URL[,URL...] --ledger-id ID [--format table|json]\n\n"
    "Shows a replicated ledger (ledgerd --etcd) as its etcd cluster holds it: the committed head,\n"
    "the leader and its term, every member's applied head and how far behind the head it is (lag,\n"
    "in entries), how long ago the member last recorded itself (a member down stops updating),\n"
    "the groups etcd still holds for a member behind, and each etcd member's health. It reads etcd\n"
    "alone: no ledgerd need be up.\n";

int RunCluster(const Flags& flags, const Positional& positional) {
  if (positional.size() != 1 || positional[0] != "status" || !flags.count("etcd") || !flags.count("ledger-id")) {
    fmt::print(stderr, "ledgerctl cluster: {}", kClusterUsage);
    return kExitCannot;
  }
  std::string format = flags.count("format") ? flags.at("format") : "table";
  if (format != "table" && format != "json") {
    return Fail("cluster", Status::Invalid("format", "must be table or json"));
  }
  ClusterView view;
  view.ledger_id = flags.at("ledger-id");
  if (!c::IsValidName(view.ledger_id)) {
    return Fail("cluster", Status::Invalid("ledger-id", "1-64 of [A-Za-z0-9._-]"));
  }
  etcd::Client::Options options;
  options.endpoints = SplitCommas(flags.at("etcd"));
  std::unique_ptr<etcd::Client> client;
  Status s = etcd::Client::Make(options, &client);
  if (s.ok()) s = ReadView(client.get(), options.endpoints, &view);
  if (!s.ok()) return Fail("cluster", s, {"etcd"});
  format == "json" ? PrintJson(view) : PrintTable(view);
  return kExitOk;
}

}  // namespace tools
