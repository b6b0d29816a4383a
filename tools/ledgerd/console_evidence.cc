// The web console's evidence routes: see console_evidence.h.
#include "console_evidence.h"

#include <capnp/dynamic.h>
#include <fmt/format.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include "benefit_ledger/evidence.h"
#include "benefit_ledger/format.h"
#include "benefit_ledger/keys.h"
#include "benefit_ledger/results.h"

namespace ledgerd {
namespace {

using ledger::Status;

// The JSON of a result record, as ledgerctl --format json prints it, without the line break.
template <typename Reader>
std::string RecordJson(Reader record) {
  std::string json;
  ledger::json::WriteResult(capnp::toDynamic(record), ledger::json::Mode::kDocument,
                            [&json](std::string_view t) { json += t; });
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

bool ReadWhole(const char* path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return in.good() || in.eof();
}

std::string NowUtc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---- A tar archive (POSIX ustar): the proof's files in one download, which every system unpacks.

void Octal(char* field, size_t width, uint64_t value) {  // Zero-padded, NUL-terminated.
  std::string digits = fmt::format("{:0{}o}", value, width - 1);
  std::copy(digits.begin(), digits.end(), field);
}

void AppendTarFile(const std::string& name, const std::string& content, std::string* tar) {
  char h[512] = {};
  std::copy(name.begin(), name.begin() + std::min<size_t>(name.size(), 99), h);
  Octal(h + 100, 8, 0644);
  Octal(h + 108, 8, 0);
  Octal(h + 116, 8, 0);
  Octal(h + 124, 12, content.size());
  Octal(h + 136, 12, static_cast<uint64_t>(std::time(nullptr)));
  h[156] = '0';
  std::copy_n(
      "ustar\0"
      "00",
      8, h + 257);
  std::fill_n(h + 148, 8, ' ');  // The checksum is of the header with its own field as spaces.
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::string digits = fmt::format("{:06o}", sum);
  std::copy(digits.begin(), digits.end(), h + 148);
  h[154] = '\0';
  tar->append(h, sizeof h);
  tar->append(content);
  tar->append((512 - content.size() % 512) % 512, '\0');
}

std::string Tar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string tar;
  for (const auto& [name, content] : files) AppendTarFile(name, content, &tar);
  tar.append(1024, '\0');  // Two empty blocks end the archive.
  return tar;
}

// A household id as part of a file name: letters, digits, '-' and '_' kept, the rest '_'.
std::string FileSafe(std::string_view id) {
  std::string out;
  for (char c : id) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out;
}

// The household proof at the latest checkpoint, the note, the verifier key and how to check them,
// in a directory HOUSEHOLD-proof-SIZE of the archive (r->text); its name in r->texts[0].
ReadFn HouseholdProof(std::string household) {
  return [household](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    ledger::evidence::SignedCheckpoint cp;
    ledger::evidence::Proof proof;
    ledger::note::Verifier key;
    r->status = ScopeHousehold(l, me, household);
    if (r->status.ok()) r->status = l.LatestCheckpoint(&cp);
    if (r->status.code() == Status::Code::kNotFound) {
      r->status = Status::NotFound(
          "the ledger has no checkpoint yet, so no proof can be given: an administrator makes one (ledgerctl "
          "checkpoint)",
          "checkpoint");
    }
    uint64_t size = cp.checkpoint.tree_size;
    if (r->status.ok()) r->status = l.ProveHousehold(household, size, &proof);
    if (r->status.ok()) r->status = l.CheckpointKey(&key);
    if (!r->status.ok()) return;
    std::string dir = fmt::format("{}-proof-{}", FileSafe(household), size);
    std::string how = fmt::format(
        "Household {} at the checkpoint of size {}, signed by {}.\n"
        "Check it offline:\n\n"
        "  ledgerctl verify-proof proof.json --checkpoint checkpoint.note --key checkpoint.pub\n\n"
        "checkpoint.pub is the verifier key as this ledger records it: compare it with the key the office\n"
        "published (or use that one instead) before trusting the answer.\n",
        household, size, cp.checkpoint.origin);
    r->text = Tar({{dir + "/proof.json", ledger::evidence::ProofToJson(proof)},
                   {dir + "/checkpoint.note", cp.note},
                   {dir + "/checkpoint.pub", ledger::note::FormatVerifierKey(key) + "\n"},
                   {dir + "/VERIFY.txt", how}});
    r->texts.push_back(dir + ".tar");
  };
}

ReadFn Checkpoints() {
  return [](ledger::Ledger& l, const ledger::ActorInfo&, Reply* r) {
    auto list = r->message.initRoot<ledger::results::CheckpointList>();
    r->status = l.ListCheckpoints(list);
    if (r->status.ok()) r->text = fmt::format("{{\"result\":{}}}\n", RecordJson(list.asReader()));
  };
}

// The red flags of a trace, every row (no page), in the columns of `ledgerctl trace --format
// csv`'s flags table. `rule` keeps that rule's flags only, as /api/trace does.
struct FlagRow {
  uint64_t seq;
  std::string household, rule, message, events;
};
const char* const kFlagColumns[] = {"seq", "household", "rule", "message", "events"};

Status FlagRows(ledger::Ledger& l, const ledger::ActorInfo& me, ledger::results::TraceScope scope, std::string asked,
                const std::string& rule, capnp::MallocMessageBuilder* message, std::vector<FlagRow>* rows) {
  Status s = ScopeTrace(l, me, scope, &asked);
  auto result = message->initRoot<ledger::results::TraceResult>();
  if (s.ok()) s = l.Trace(scope, asked, result);
  if (!s.ok()) return s;
  for (auto f : result.asReader().getFlags()) {
    if (!rule.empty() && rule != f.getRule().cStr()) continue;
    std::string events;
    for (auto e : f.getEventIds()) events += (events.empty() ? "" : " ") + std::string(e.cStr());
    rows->push_back({f.getSeq(), f.getHousehold().cStr(), f.getRule().cStr(), f.getMessage().cStr(), events});
  }
  return Status::Ok();
}

// After a UTF-8 byte order mark, without which Excel reads the Chinese of the messages as
// another code page.
std::string Csv(const std::vector<FlagRow>& rows) {
  std::string out = "\xEF\xBB\xBF";
  for (const char* c : kFlagColumns) out += std::string(c == kFlagColumns[0] ? "" : ",") + c;
  out += "\n";
  for (const auto& f : rows) {
    out += fmt::format("{},{},{},{},{}\n", f.seq, ledger::CsvField(f.household), ledger::CsvField(f.rule),
                       ledger::CsvField(f.message), ledger::CsvField(f.events));
  }
  return out;
}

// An .xlsx workbook of one sheet (libxlsxwriter, which writes only to a file: a temporary one,
// read back and removed).
Status Xlsx(const std::vector<FlagRow>& rows, std::string* out) {
  char path[] = "/tmp/ledgerd-flags-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return Status::IOError("the console could not make a temporary file for the workbook");
  ::close(fd);
  lxw_workbook* book = workbook_new(path);
  lxw_worksheet* sheet = book ? workbook_add_worksheet(book, "red flags") : nullptr;
  for (lxw_col_t c = 0; sheet && c < 5; ++c) worksheet_write_string(sheet, 0, c, kFlagColumns[c], nullptr);
  lxw_row_t r = 1;
  for (const auto& f : rows) {
    if (!sheet) break;
    worksheet_write_number(sheet, r, 0, static_cast<double>(f.seq), nullptr);
    const std::string* text[] = {&f.household, &f.rule, &f.message, &f.events};
    for (lxw_col_t c = 0; c < 4; ++c) worksheet_write_string(sheet, r, c + 1, text[c]->c_str(), nullptr);
    ++r;
  }
  lxw_error closed = book ? workbook_close(book) : LXW_ERROR_MEMORY_MALLOC_FAILED;
  bool read = closed == LXW_NO_ERROR && ReadWhole(path, out);
  ::unlink(path);
  if (read) return Status::Ok();
  return Status::IOError(fmt::format("the console could not write the workbook: {}", lxw_strerror(closed)));
}

ReadFn TraceExport(ledger::results::TraceScope scope, std::string asked, std::string rule, bool xlsx) {
  return [scope, asked, rule, xlsx](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    std::vector<FlagRow> rows;
    r->status = FlagRows(l, me, scope, asked, rule, &r->message, &rows);
    if (r->status.ok() && xlsx) r->status = Xlsx(rows, &r->text);
    if (r->status.ok() && !xlsx) r->text = Csv(rows);
  };
}

// /api/trace.csv or .xlsx ?region=R|actor=A|household=H[&rule=RULE], as /api/trace.
std::optional<ReadFn> TraceExportOf(const std::map<std::string, std::string>& params, bool xlsx, Status* bad) {
  using Scope = ledger::results::TraceScope;
  auto param = [&params](const char* name) {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  };
  int given = !param("region").empty() + !param("actor").empty() + !param("household").empty();
  if (given > 1) {
    *bad = Status::Invalid("region", "give one of region, actor or household (none: your whole jurisdiction)");
    return std::nullopt;
  }
  if (!param("actor").empty()) return TraceExport(Scope::kActor, param("actor"), param("rule"), xlsx);
  if (!param("household").empty()) return TraceExport(Scope::kHousehold, param("household"), param("rule"), xlsx);
  return TraceExport(Scope::kRegion, param("region"), param("rule"), xlsx);
}

ConsoleAnswer Error(Status s) {
  ConsoleAnswer a;
  a.error = std::move(s);
  return a;
}

// The answer of a read: its error, or its text as JSON.
kj::Promise<ConsoleAnswer> Answered(kj::Promise<std::shared_ptr<Reply>> read) {
  return read.then([](std::shared_ptr<Reply> r) {
    if (!r->status.ok()) return Error(r->status);
    ConsoleAnswer a;
    a.body = std::move(r->text);
    return a;
  });
}

}  // namespace

// One verify: written by its reader (the counts) and the event loop (the rest, before it starts
// and once it has finished).
struct ConsoleEvidence::VerifyState {
  uint64_t run = 0;
  std::string actor, started_at, finished_at;
  std::atomic<uint64_t> checked{0}, total{0};
  bool running = true;
  std::optional<bool> ok;
  std::string problem, result;  // result: the VerifyResult's JSON, "" if verify could not run.
};

ConsoleEvidence::ConsoleEvidence(ConsoleRead read) : read_(std::move(read)), tasks_(*this) {}

ConsoleEvidence::~ConsoleEvidence() = default;

std::optional<kj::Promise<ConsoleAnswer>> ConsoleEvidence::Route(bool post, const std::string& name,
                                                                 const std::map<std::string, std::string>& params,
                                                                 const std::string& actor) {
  if (name == "verify") {
    if (post) return StartVerify(actor);
    return kj::Promise<ConsoleAnswer>(VerifyStatus(200, "OK"));
  }
  if (post) return std::nullopt;  // console.cc answers 405.
  if (name == "checkpoints") return Answered(read_(actor, Checkpoints()));
  if (name == "trace.csv" || name == "trace.xlsx") return TraceExportAnswer(params, name == "trace.xlsx", actor);
  if (name != "household-proof") return std::nullopt;
  auto id = params.find("id");
  if (id == params.end() || id->second.empty()) {
    return kj::Promise<ConsoleAnswer>(Error(Status::Invalid("id", "give the household: /api/household-proof?id=H")));
  }
  return read_(actor, HouseholdProof(id->second)).then([](std::shared_ptr<Reply> r) {
    if (!r->status.ok()) return Error(r->status);
    ConsoleAnswer a;
    a.type = "application/x-tar";
    a.body = std::move(r->text);
    a.headers.push_back({"Content-Disposition", fmt::format("attachment; filename=\"{}\"", r->texts[0])});
    return a;
  });
}

kj::Promise<ConsoleAnswer> ConsoleEvidence::TraceExportAnswer(const std::map<std::string, std::string>& params,
                                                              bool xlsx, const std::string& actor) {
  Status bad;
  auto fn = TraceExportOf(params, xlsx, &bad);
  if (!fn) return Error(bad);
  return read_(actor, std::move(*fn)).then([xlsx](std::shared_ptr<Reply> r) {
    if (!r->status.ok()) return Error(r->status);
    ConsoleAnswer a;
    a.type = xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv; charset=utf-8";
    a.body = std::move(r->text);
    a.headers.push_back(
        {"Content-Disposition", fmt::format("attachment; filename=\"red-flags.{}\"", xlsx ? "xlsx" : "csv")});
    return a;
  });
}

// Checks the caller's role on a reader first (a refusal starts nothing); then, on the event loop,
// where no other start can interleave, starts the verify unless one runs.
kj::Promise<ConsoleAnswer> ConsoleEvidence::StartVerify(const std::string& actor) {
  auto check = [](ledger::Ledger&, const ledger::ActorInfo& me, Reply* r) { r->status = MayVerify(me); };
  return read_(actor, check).then([this, actor](std::shared_ptr<Reply> role) {
    if (!role->status.ok()) return Error(role->status);
    if (last_ && last_->running) return VerifyStatus(409, "Conflict");
    auto state = std::make_shared<VerifyState>();
    state->run = ++runs_;
    state->actor = actor;
    state->started_at = NowUtc();
    last_ = state;
    auto fn = [state](ledger::Ledger& l, const ledger::ActorInfo&, Reply* r) {
      state->total = l.head_seq();
      auto result = r->message.initRoot<ledger::results::VerifyResult>();
      r->status = l.Verify(result, [state](uint64_t checked, uint64_t total) {
        state->checked = checked;
        state->total = total;
      });
      if (r->status.ok()) r->text = RecordJson(result.asReader());
    };
    auto done = [state](std::shared_ptr<Reply> r) {
      state->running = false;
      state->finished_at = NowUtc();
      state->result = r->text;
      bool ran = r->status.ok();
      auto result = r->message.getRoot<ledger::results::VerifyResult>();
      state->ok = ran && result.getOk();
      state->problem = !ran ? r->status.ToString() : std::string(result.getProblem().cStr());
    };
    tasks_.add(read_(actor, std::move(fn)).then(kj::mv(done)).catch_([state](kj::Exception&& e) {
      state->running = false;
      state->finished_at = NowUtc();
      state->ok = false;
      state->problem = e.getDescription().cStr();
    }));
    return VerifyStatus(202, "Accepted");
  });
}

// {"run":N,"state":"running"|"finished","actor":..,"startedAt":..,"finishedAt":..,
//  "entriesChecked":..,"entriesTotal":..,"ok":..,"problem":..,"result":VerifyResult|null};
// {"run":0,"state":"none"} before the first.
ConsoleAnswer ConsoleEvidence::VerifyStatus(unsigned code, const char* text) const {
  ConsoleAnswer a;
  a.code = code;
  a.text = text;
  if (!last_) {
    a.body = "{\"run\":0,\"state\":\"none\"}\n";
    return a;
  }
  const VerifyState& s = *last_;
  auto str_or_null = [](const std::string& v) { return v.empty() ? std::string("null") : ledger::JsonString(v); };
  a.body = fmt::format(
      "{{\"run\":{},\"state\":\"{}\",\"actor\":{},\"startedAt\":{},\"finishedAt\":{},\"entriesChecked\":{},"
      "\"entriesTotal\":{},\"ok\":{},\"problem\":{},\"result\":{}}}\n",
      s.run, s.running ? "running" : "finished", ledger::JsonString(s.actor), ledger::JsonString(s.started_at),
      str_or_null(s.finished_at), s.checked.load(), s.total.load(),
      !s.ok   ? "null"
      : *s.ok ? "true"
              : "false",
      ledger::JsonString(s.problem), s.result.empty() ? "null" : s.result);
  return a;
}

}  // namespace ledgerd
