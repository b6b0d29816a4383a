// ledgerctl: the command-line front end of Benefit Ledger. Thin: parsing arguments, reading
// and printing; everything else is the library's, through its public API (include/benefit_ledger).
//
// Exit status: 0 all done; 1 the ledger answered "no" (a line rejected, verification failed,
// nothing found); 2 the command could not run (usage, unreadable input, I/O error).

#include <capnp/message.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/format.h"
#include "benefit_ledger/ledger.h"
#include "benefit_ledger/results.h"
#include "cli.h"
#include "commands.h"
#include "line_reader.h"
#include "ordered_worker.h"
#include "report.h"
#include "source.h"

namespace {

using ledger::Status;
using tools::Fail;
using tools::kExitCannot;
using tools::kExitNo;
using tools::kExitOk;
using tools::OpenOrReport;
using tools::ParseCount;
using tools::ParseDateFlag;
using tools::ReadFile;
using tools::Required;
using tools::Today;
// A group of appended lines is also closed at this many input bytes, which bounds the memory
// of a group (parsed events and the write batch) whatever --group-size says.
constexpr size_t kGroupBytesMax = 64 << 20;

// ---------------------------------------------------------------------------------------------
// Arguments

struct Command {
  const char* name;
  const char* summary;
  const char* usage;               // Shown by --help.
  std::vector<const char*> flags;  // Flags that take a value.
  int (*run)(const std::map<std::string, std::string>& flags, const std::vector<std::string>& positional);
};

struct Args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
  bool help = false;
};

std::optional<Args> ParseArgs(const Command& cmd, int argc, char** argv) {
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      args.help = true;
    } else if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        fmt::print(stderr, "ledgerctl {}: --{} needs a value\n", cmd.name, name);
        return std::nullopt;
      }
      bool known = false;
      for (const char* f : cmd.flags) known = known || name == f;
      if (!known) {
        fmt::print(stderr, "ledgerctl {}: unknown option --{} (see ledgerctl {} --help)\n", cmd.name, name, cmd.name);
        return std::nullopt;
      }
      args.flags[name] = value;
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

// --format, checked; prints why not.
bool ParseFormatFlag(const std::map<std::string, std::string>& flags, const char* command, tools::Format* format) {
  if (!flags.count("format") || tools::ParseFormat(flags.at("format"), format)) return true;
  fmt::print(stderr, "ledgerctl {}: --format is {}, not \"{}\"\n", command, tools::kFormats, flags.at("format"));
  return false;
}

// ---------------------------------------------------------------------------------------------
// init

int RunInit(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "init");
  if (!dir) return kExitCannot;
  ledger::Policy policy = ledger::Policy::kEnforce;
  if (flags.count("policy") && !ledger::ParsePolicy(flags.at("policy"), &policy)) {
    fmt::print(stderr, "ledgerctl init: --policy is enforce or record, not \"{}\"\n", flags.at("policy"));
    return kExitCannot;
  }
  auto key = tools::PlanCheckpointKey(flags, *dir, "init");  // Options checked before anything is made.
  if (!key) return kExitCannot;
  ledger::CreateOptions options;
  options.policy = policy;
  options.checkpoint_key = ledger::note::VerifierOf(key->key);
  Status s = ledger::Ledger::Create(*dir, options);
  if (!s.ok()) return Fail("init", s, {"dir"});
  if (!tools::WriteCheckpointKeyFiles(*dir, *key, "init")) {
    fmt::print(stderr,
               "ledgerctl init: the ledger {} records a checkpoint key whose signer key is lost: remove {} "
               "and run init again\n",
               *dir, *dir);
    return kExitCannot;
  }
  fmt::print(
      "created ledger {} with policy {} (database {}/db, keyed-hash secret {}/secret: keep it, keep it "
      "private); its genesis entry, seq 1, records the policy, the checkpoint key and a check value of the "
      "secret\n",
      *dir, ledger::PolicyName(policy), *dir, *dir);
  tools::PrintCheckpointKey(*dir, *key);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// append

struct PendingLine {
  size_t line = 0;
  std::unique_ptr<capnp::MallocMessageBuilder> message;  // Null when the line was rejected early.
  std::string event_id;
  Status early_error;
};

// ,"findings":[{"rule":…,"message":…,"events":[…]},…] or "".
std::string FindingsJson(const std::vector<ledger::Finding>& findings) {
  if (findings.empty()) return "";
  std::string out = ",\"findings\":[";
  for (size_t i = 0; i < findings.size(); ++i) {
    std::string events;
    for (const auto& id : findings[i].event_ids) events += (events.empty() ? "" : ",") + ledger::JsonString(id);
    out += fmt::format("{}{{\"rule\":{},\"message\":{},\"events\":[{}]}}", i ? "," : "",
                       ledger::JsonString(findings[i].rule), ledger::JsonString(findings[i].message), events);
  }
  return out + "]";
}

std::string ResultJson(const PendingLine& p, const ledger::AppendResult* r) {
  using Outcome = ledger::AppendResult::Outcome;
  std::string id = p.event_id.empty() ? "" : fmt::format(",\"eventId\":{}", ledger::JsonString(p.event_id));
  if (r == nullptr || r->outcome == Outcome::kRejected) {
    const Status& e = r == nullptr ? p.early_error : r->error;
    bool by_rule = r != nullptr && !r->findings.empty();  // Refused under the enforce policy.
    std::string field =
        e.field().empty() ? "" : fmt::format(",\"{}\":{}", by_rule ? "rule" : "field", ledger::JsonString(e.field()));
    return fmt::format("{{\"line\":{},\"status\":\"error\"{}{},\"reason\":{}{}}}", p.line, id, field,
                       ledger::JsonString(tools::ForCommandLine(e.reason())), by_rule ? FindingsJson(r->findings) : "");
  }
  const char* status = r->outcome == Outcome::kCreated ? "created" : "exists";
  std::string hash = r->outcome == Outcome::kCreated ? fmt::format(",\"hash\":\"{}\"", ledger::Hex(r->hash)) : "";
  return fmt::format("{{\"line\":{},\"status\":\"{}\"{},\"seq\":{}{}{}}}", p.line, status, id, r->seq, hash,
                     FindingsJson(r->findings));
}

// Parses one input line; a line that cannot be an event is rejected here, before the ledger.
// ParseEventJson refuses what is not text (invalid UTF-8, NUL) too, with the field and the byte.
PendingLine ParseLine(size_t line_number, const std::string& text) {
  PendingLine p;
  p.line = line_number;
  p.message = std::make_unique<capnp::MallocMessageBuilder>(ledger::kEventMessageWords);
  p.early_error = ledger::ParseEventJson(text, p.message.get(), &p.event_id);
  if (!p.early_error.ok()) p.message.reset();
  // An id that is not an identifier is not echoed: the error is about it.
  if (!ledger::IsValidId(p.event_id)) p.event_id.clear();
  return p;
}

// An input line as read, before it is parsed (ParseGroup, on the parser's thread).
struct RawLine {
  size_t line = 0;
  std::string text;
  bool too_long = false;  // Longer than --max-line-bytes: not kept.
};
using RawGroup = std::vector<RawLine>;

std::vector<PendingLine> ParseGroup(RawGroup* raw, size_t line_max) {
  std::vector<PendingLine> parsed;
  parsed.reserve(raw->size());
  for (const RawLine& r : *raw) {
    if (!r.too_long) {
      parsed.push_back(ParseLine(r.line, r.text));
      continue;
    }
    PendingLine p;
    p.line = r.line;
    p.early_error = Status::Invalid("", fmt::format("line longer than {} bytes (--max-line-bytes)", line_max));
    parsed.push_back(std::move(p));
  }
  return parsed;
}

// What happened to the lines of one append: all of them, and those whose result line could not
// be written to standard output (stdout full, closed, or a pipe with no reader).
struct AppendCounts {
  struct Tally {
    size_t created = 0, exists = 0, rejected = 0;
    size_t first_line = 0, last_line = 0;  // Input lines; 0 when none.
    uint64_t first_seq = 0, last_seq = 0;  // Of the created entries; 0 when none.
    void Add(const PendingLine& p, const ledger::AppendResult* r);
  };
  Tally all, unprinted;
  int output_errno = 0;  // Set when writing the results failed: nothing more is appended.
};

void AppendCounts::Tally::Add(const PendingLine& p, const ledger::AppendResult* r) {
  using Outcome = ledger::AppendResult::Outcome;
  Outcome outcome = r == nullptr ? Outcome::kRejected : r->outcome;
  rejected += outcome == Outcome::kRejected;
  exists += outcome == Outcome::kExists;
  if (outcome == Outcome::kCreated) {
    if (++created == 1) first_seq = r->seq;
    last_seq = r->seq;
  }
  if (first_line == 0) first_line = p.line;
  last_line = p.line;
}

// Writes `text` to standard output unbuffered; returns the bytes written before an error (then
// *error is its errno), so that the caller knows which result lines reached the reader.
size_t WriteStdout(std::string_view text, int* error) {
  size_t written = 0;
  *error = 0;
  while (written < text.size()) {
    ssize_t n = ::write(STDOUT_FILENO, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = n < 0 ? errno : EIO;
      break;
    }
    written += static_cast<size_t>(n);
  }
  return written;
}

// Prints a group's results in line order. `results` has one per line that parsed, or none if
// the group was refused whole (`write` says why). Never throws: a result line that cannot be
// written is counted as unprinted, and so is every line after it.
void PrintResults(const std::vector<PendingLine>& lines, std::vector<ledger::AppendResult>* results,
                  const Status& write, AppendCounts* counts) {
  size_t parsed = std::count_if(lines.begin(), lines.end(), [](const PendingLine& p) { return p.message != nullptr; });
  if (results->size() != parsed) {
    ledger::AppendResult refused;
    refused.error = write;
    results->assign(parsed, refused);
  }
  std::string text;
  std::vector<size_t> line_end;  // Offset in `text` just after each line's result.
  std::vector<const ledger::AppendResult*> line_result;
  size_t next = 0;
  for (const auto& p : lines) {
    line_result.push_back(p.message ? &(*results)[next++] : nullptr);
    text += ResultJson(p, line_result.back()) + "\n";
    line_end.push_back(text.size());
  }
  size_t written = counts->output_errno == 0 ? WriteStdout(text, &counts->output_errno) : 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    counts->all.Add(lines[i], line_result[i]);
    if (line_end[i] > written) counts->unprinted.Add(lines[i], line_result[i]);
  }
  if (!write.ok()) ::fprintf(stderr, "ledgerctl append: %s\n", tools::ForCommandLine(write.ToString()).c_str());
}

// Says what an append whose results could not all be printed did commit, and what it did not do.
// `not_read_from` is the first input line not appended, 0 if every line was.
void ReportUnprinted(const AppendCounts& counts, size_t not_read_from, uint64_t log_entries) {
  const AppendCounts::Tally& u = counts.unprinted;
  std::string seqs = u.created == 0              ? ""
                     : u.first_seq == u.last_seq ? fmt::format(" (seq {})", u.first_seq)
                                                 : fmt::format(" (seq {} to {})", u.first_seq, u.last_seq);
  std::string lines = u.first_line == 0 ? "" : fmt::format(" of input lines {} to {}", u.first_line, u.last_line);
  ::fprintf(stderr,
            "ledgerctl append: cannot write the results to standard output (%s). Committed to the ledger all the "
            "same, with no result printed%s: %s%s, %s, %s. %s The log now has %s.\n",
            strerror(counts.output_errno), lines.c_str(),
            ledger::Counted(u.created, "event created", "events created").c_str(), seqs.c_str(),
            ledger::Counted(u.exists, "already there", "already there").c_str(),
            ledger::Counted(u.rejected, "rejected", "rejected").c_str(),
            not_read_from == 0 ? "Every input line was read."
                               : fmt::format("Input from line {} on was not appended.", not_read_from).c_str(),
            ledger::Counted(log_entries, "entry", "entries").c_str());
}

// Submits one group (Ledger::SubmitGroup): it is checked now and written while the next group is
// read and checked; its results are printed once it is durable. False if a write failed.
bool SubmitLines(tools::Source* l, std::vector<PendingLine>* group, AppendCounts* counts) {
  auto lines = std::make_shared<std::vector<PendingLine>>(std::move(*group));
  group->clear();
  std::vector<capnp::MessageBuilder*> messages;
  for (auto& p : *lines) {
    if (p.message) messages.push_back(p.message.get());
  }
  auto done = [lines, counts](std::vector<ledger::AppendResult>* results, const Status& write) {
    PrintResults(*lines, results, write, counts);
  };
  return l->SubmitGroup(messages, ledger::GroupMode::kEachOnItsOwn, done).ok();
}

int RunAppend(const std::map<std::string, std::string>& flags, const std::vector<std::string>& positional) {
  auto dir = Required(flags, "dir", "append");
  if (!dir) return kExitCannot;
  uint64_t group_max = 1000, line_max = 1 << 20;
  if (flags.count("group-size")) {
    auto v = ParseCount(flags.at("group-size"), "group-size", "append", ledger::Ledger::kGroupEventsMax);
    if (!v) return kExitCannot;
    group_max = *v;
  }
  if (flags.count("max-line-bytes")) {
    auto v = ParseCount(flags.at("max-line-bytes"), "max-line-bytes", "append", 64 << 20);
    if (!v) return kExitCannot;
    line_max = *v;
  }
  if (positional.size() > 1) {
    fmt::print(stderr, "ledgerctl append: give at most one input file (or - for standard input)\n");
    return kExitCannot;
  }
  int fd = 0;
  if (!positional.empty() && positional[0] != "-") {
    fd = ::open(positional[0].c_str(), O_RDONLY);
    if (fd < 0) {
      fmt::print(stderr, "ledgerctl append: cannot read {}: {}\n", positional[0], strerror(errno));
      return kExitCannot;
    }
  }
  int code = kExitOk;
  AppendCounts counts;  // Before the ledger: a group still in flight reports into it when the ledger closes.
  auto l = tools::OpenSource(*dir, "append", &code);
  if (!l) return code;

  tools::LineReader reader(fd, line_max);
  // Each group is parsed on a thread of its own while the ledger checks the group before it.
  tools::OrderedWorker<RawGroup, std::vector<PendingLine>> parser(
      [line_max](RawGroup& raw) { return ParseGroup(&raw, line_max); }, 2);
  std::deque<size_t> parsing;  // The first input line of each group given to the parser, not submitted.
  // Submits the parsed groups, oldest first, until `keep` are left with the parser.
  auto submit_parsed = [&](size_t keep) {
    while (parser.given() > keep && counts.output_errno == 0) {
      std::vector<PendingLine> parsed = parser.Take();
      parsing.pop_front();
      if (!SubmitLines(l.get(), &parsed, &counts)) return false;
    }
    return true;
  };
  auto give = [&](RawGroup* group) {
    parsing.push_back(group->front().line);
    parser.Push(std::move(*group));
    group->clear();
  };
  bool input_ended = false;
  RawGroup group;
  size_t group_bytes = 0;  // Input bytes of the lines in `group`.
  std::string text;
  for (;;) {
    if (counts.output_errno != 0) break;  // Nobody can be told the results: append no more.
    auto r = reader.Next(&text);
    if (r == tools::LineReader::Result::kError) {
      fmt::print(stderr, "ledgerctl append: reading input: {}\n", strerror(errno));
      code = kExitCannot;
      break;
    }
    if (r == tools::LineReader::Result::kEnd) {
      input_ended = true;
      break;
    }
    if (r == tools::LineReader::Result::kTooLong) {
      group.push_back({reader.line_number(), "", true});
    } else if (text.find_first_not_of(" \t") != std::string::npos) {  // Blank lines are skipped.
      group_bytes += text.size();
      group.push_back({reader.line_number(), std::move(text), false});
    }
    // Close the group when full (in lines or bytes), or when the writer pauses (so that an
    // interactive writer gets its answers without waiting for a full group).
    bool full = group.size() >= group_max || group_bytes >= kGroupBytesMax;
    bool pause = !group.empty() && !reader.MoreReadyNow();
    if (full || pause) {
      give(&group);
      group_bytes = 0;
      if (!submit_parsed(pause ? 0 : 1)) return kExitCannot;
      if (pause && !l->FlushGroups().ok()) return kExitCannot;
    }
  }
  if (counts.output_errno == 0 && !group.empty()) give(&group);
  if (!submit_parsed(0)) return kExitCannot;
  size_t not_read_from = !parsing.empty() ? parsing.front()
                         : !group.empty() ? group.front().line
                         : input_ended    ? 0
                                          : reader.line_number() + 1;
  if (!l->FlushGroups().ok()) return kExitCannot;
  if (fd > 0) ::close(fd);
  if (counts.output_errno != 0) {
    ReportUnprinted(counts, not_read_from, l->head_seq());
    return kExitCannot;
  }
  fmt::print(stderr, "ledgerctl append: {} created, {} already there, {} rejected; the log now has {}\n",
             counts.all.created, counts.all.exists, counts.all.rejected,
             ledger::Counted(l->head_seq(), "entry", "entries"));
  if (code != kExitOk) return code;
  return counts.all.rejected == 0 ? kExitOk : kExitNo;
}

// ---------------------------------------------------------------------------------------------
// show

int RunShow(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "show");
  auto seq_text = dir ? Required(flags, "seq", "show") : std::nullopt;
  if (!seq_text) return kExitCannot;
  auto seq = ParseCount(*seq_text, "seq", "show", UINT64_MAX / 2);
  if (!seq) return kExitCannot;
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "show", &code, tools::Access::kReading);
  if (!l) return code;
  std::string json;
  Status s = l->ShowEntry(*seq, &json);
  if (!s.ok()) return Fail("show", s, {"seq"});
  fmt::print("{}\n", json);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// verify

// "verify: 4096 of 10000 entries checked (40%)" on standard error, as a server reports it: a
// verify there waits behind the appends and its answer comes only at the end. (Standard output
// stays what it is with --dir.)
void PrintProgress(uint64_t checked, uint64_t total) {
  fmt::print(stderr, "verify: {} of {} checked ({}%)\n", checked, ledger::Counted(total, "entry", "entries"),
             total == 0 ? 100 : checked * 100 / total);
}

// Verifies an open ledger and prints the result (a line, or the result record); the exit code.
int PrintVerify(tools::Source& l, tools::Format format = tools::Format::kTable) {
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::VerifyResult>();
  Status s = l.Verify(result, tools::HasServer() ? PrintProgress : ledger::Ledger::VerifyProgress());
  if (!s.ok()) return Fail("verify", s);
  auto report = result.asReader();
  if (tools::IsJson(format)) {
    tools::PrintResult(report, format);
    return report.getOk() ? kExitOk : kExitNo;
  }
  if (!report.getOk()) {
    fmt::print("FAILED at seq {}: {}\n", report.getBadSeq(), tools::ForCommandLine(report.getProblem().cStr()));
    return kExitNo;
  }
  double rate = report.getSeconds() > 0 ? report.getEntries() / report.getSeconds() : 0;
  auto head = report.getHeadHash();
  fmt::print("ok: {}, {}, head {}, {:.3f} s, {:.0f} events/s\n",
             ledger::Counted(report.getEntries(), "entry", "entries"),
             ledger::Counted(report.getHouseholds(), "household", "households"),
             ledger::Hex({head.begin(), head.size()}), report.getSeconds(), rate);
  if (report.getGenesisSeq() > 1) {
    fmt::print(
        "note: the genesis entry is seq {} (added by upgrade): the policy and secret entries 1 to {} were "
        "appended under are not in the log\n",
        report.getGenesisSeq(), report.getGenesisSeq() - 1);
  }
  return kExitOk;
}

int RunVerify(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "verify");
  tools::Format format = tools::Format::kTable;
  if (!dir || !ParseFormatFlag(flags, "verify", &format)) return kExitCannot;
  if (format == tools::Format::kCsv) {
    fmt::print(stderr, "ledgerctl verify: --format is table, json or jsonl\n");
    return kExitCannot;
  }
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "verify", &code, tools::Access::kReading);
  return l ? PrintVerify(*l, format) : code;
}

// ---------------------------------------------------------------------------------------------
// upgrade

int RunUpgrade(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "upgrade");
  if (!dir) return kExitCannot;
  ledger::UpgradeReport report;
  Status s = ledger::Ledger::Upgrade(*dir, &report);
  if (!s.ok()) return Fail("upgrade", s);
  if (!report.upgraded) {
    fmt::print("{} is already {} with its genesis entry: nothing to do\n", *dir, report.from);
    return kExitOk;
  }
  if (report.from != report.to) {
    fmt::print("upgraded {} from {} to {}: {} entries\n", *dir, report.from, report.to,
               report.genesis_seq > 0 ? report.genesis_seq - 1 : report.entries);
  }
  if (report.genesis_seq == 1) {
    fmt::print("appended the genesis entry at seq 1: the policy, checkpoint key and secret check the ledger has\n");
  } else if (report.genesis_seq > 1) {
    fmt::print(
        "the genesis entry cannot be the first without changing the {} entries before it: appended it at seq {}, "
        "recording the policy, checkpoint key and secret check the ledger has now. What entries 1 to {} were "
        "appended under is not in the log; make a checkpoint now (ledgerctl checkpoint --dir {}) and publish it: "
        "it commits the genesis entry\n",
        report.genesis_seq - 1, report.genesis_seq, report.genesis_seq - 1, *dir);
  }
  fmt::print("done in {:.3f} s; verifying\n", report.seconds);
  int code = kExitOk;
  auto l = OpenOrReport(*dir, "upgrade", &code);
  return l ? PrintVerify(*tools::LocalSource(std::move(l))) : code;
}

// ---------------------------------------------------------------------------------------------
// replay

// One timeline row of a household replay.
void AddReplayRow(tools::Report* report, const ledger::ReplayStepView& view) {
  auto step = view.record;
  std::string findings;
  for (auto f : step.getFindings()) findings += (findings.empty() ? "" : " ") + std::string(f.getRule());
  // The first 16 hex digits identify the entry in a table; --format entries has the whole hash.
  auto hash = step.getEntryHash();
  bool has_amount = step.getAmountFen() >= 0;  // -1: the kind has no money field.
  report->Row({std::to_string(step.getSeq()), ledger::calendar::IsoDate(step.getDate()), step.getKind(),
               step.getActorId(), has_amount ? tools::Yuan(step.getAmountFen()) : "",
               ledger::Hex({hash.begin(), hash.size()}).substr(0, 16), findings, std::string(view.state)},
              {true, false, false, false, true, false, false, false});
}

int RunReplay(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "replay");
  auto household = dir ? Required(flags, "household", "replay") : std::nullopt;
  auto as_of = household ? ParseDateFlag(flags, "as-of", "replay", 0) : std::nullopt;
  if (!as_of) return kExitCannot;
  std::string format_name = flags.count("format") ? flags.at("format") : "table";
  bool entries = format_name == "entries";
  tools::Format format = tools::Format::kTable;
  if (!entries && !tools::ParseFormat(format_name, &format)) {
    fmt::print(stderr, "ledgerctl replay: --format is table, json, jsonl, csv or entries, not \"{}\"\n", format_name);
    return kExitCannot;
  }
  bool json = !entries && tools::IsJson(format);
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "replay", &code, tools::Access::kReading);
  if (!l) return code;
  tools::Report report({"seq", "date", "event", "actor", "amount yuan", "entry hash", "findings", "state after"});
  ledger::ReplayOptions options;
  options.as_of = *as_of;
  options.keep_steps = json;
  options.entry_json = entries;
  options.state_text = !entries && !json;  // The table's "state after" column.
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::ReplayResult>();
  std::string on_date;
  Status s = l->ReplayHousehold(
      *household, options,
      [&](const ledger::ReplayStepView& view) {
        if (entries) fmt::print("{}\n", view.entry_json);
        if (!entries && !json) AddReplayRow(&report, view);
      },
      result, &on_date);
  if (!s.ok()) {
    if (s.code() == Status::Code::kCorruption && !json) fmt::print("FAILED: {}\n", tools::ForCommandLine(s.reason()));
    return Fail("replay", s, {"household"});
  }
  if (json) {
    tools::PrintResult(result.asReader(), format);
  } else if (!entries) {
    report.Print(format);
  }
  if (*as_of && format == tools::Format::kTable && !entries) fmt::print("on {}: {}\n", *as_of, on_date);
  fflush(stdout);  // The summary follows the table, also when both go to one pipe.
  auto last = result.getLastEntryHash();
  fmt::print(stderr, "household {}: {}, household chain verified, last entry hash {}\n", *household,
             ledger::Counted(result.getEvents(), "event", "events"), ledger::Hex({last.begin(), last.size()}));
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// Reports: roll, totals, reviews

// --region, --programme and --format, checked.
bool ParseReportOptions(const std::map<std::string, std::string>& flags, const char* command,
                        ledger::ReportFilter* filter, tools::Format* format) {
  if (flags.count("region")) {
    filter->region_prefix = flags.at("region");
    if (!ledger::IsValidRegionPrefix(filter->region_prefix)) {
      fmt::print(stderr, "ledgerctl {}: --region \"{}\" is not a region prefix (2, 4, 6, 9 or 12 digits)\n", command,
                 filter->region_prefix);
      return false;
    }
  }
  if (flags.count("programme")) {
    filter->programme = ledger::ParseProgramme(flags.at("programme"));
    if (!filter->programme) {
      fmt::print(stderr, "ledgerctl {}: unknown --programme \"{}\" (e.g. urban_dibao, rural_dibao)\n", command,
                 flags.at("programme"));
      return false;
    }
  }
  return ParseFormatFlag(flags, command, format);
}

// roll and reviews: the result record, or a table (or CSV) made from it.
void PrintRoll(ledger::results::RollResult::Reader result, tools::Format format) {
  if (tools::IsJson(format)) return tools::PrintResult(result, format);
  tools::Report report(
      {"household", "region", "case", "programme", "since", "members", "monthly yuan", "suspended", "review due"});
  for (auto c : result.getCases()) {
    report.Row({c.getHousehold(), c.getRegion(), c.getCaseId(),
                ledger::ProgrammeName(static_cast<uint16_t>(c.getProgramme())), std::to_string(c.getSincePeriod()),
                std::to_string(c.getMembersCovered()), tools::Yuan(c.getMonthlyAmountFen()),
                c.getSuspended() ? "yes" : "no", c.getReviewDue() ? std::to_string(c.getReviewDue()) : ""},
               {false, false, false, false, true, true, true, false, true});
  }
  report.Print(format);
  if (format == tools::Format::kTable) {
    fmt::print("{}, {} yuan a month to those not suspended\n",
               ledger::Counted(result.getSummary().getCases(), "case", "cases"),
               tools::Yuan(result.getSummary().getMonthlyAmountFen()));
  }
}

int RunRoll(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "roll");
  ledger::ReportFilter filter;
  tools::Format format = tools::Format::kTable;
  auto as_of = ParseDateFlag(flags, "as-of", "roll", Today());
  if (!dir || !as_of || !ParseReportOptions(flags, "roll", &filter, &format)) return kExitCannot;
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "roll", &code, tools::Access::kReading);
  if (!l) return code;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::RollResult>();
  Status s = l->Roll(filter, *as_of, result);
  if (!s.ok()) return Fail("roll", s, {"region"});
  PrintRoll(result.asReader(), format);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// recoveries

void PrintRecoveries(ledger::results::RecoveriesResult::Reader result, tools::Format format) {
  if (tools::IsJson(format)) return tools::PrintResult(result, format);
  tools::Report report({"household", "region", "case", "programme", "paid until", "payments", "months", "due yuan",
                        "ordered yuan", "recovered yuan", "outstanding yuan"});
  for (auto c : result.getCases()) {
    std::string months;
    for (uint32_t m : c.getPeriods()) months += (months.empty() ? "" : " ") + std::to_string(m);
    report.Row({c.getHousehold(), c.getRegion(), c.getCaseId(),
                ledger::ProgrammeName(static_cast<uint16_t>(c.getProgramme())), std::to_string(c.getPaidUntilPeriod()),
                std::to_string(c.getPaymentIds().size()), months, tools::Yuan(c.getDueFen()),
                tools::Yuan(c.getOrderedFen()), tools::Yuan(c.getRecoveredFen()), tools::Yuan(c.getOutstandingFen())},
               {false, false, false, false, true, true, false, true, true, true, true});
  }
  report.Print(format);
  if (format == tools::Format::kTable) {
    auto sum = result.getSummary();
    fmt::print("{} paid after their exit: {} yuan due, {} ordered, {} recovered, {} outstanding\n",
               ledger::Counted(sum.getCases(), "case", "cases"), tools::Yuan(sum.getDueFen()),
               tools::Yuan(sum.getOrderedFen()), tools::Yuan(sum.getRecoveredFen()),
               tools::Yuan(sum.getOutstandingFen()));
  }
}

int RunRecoveries(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "recoveries");
  ledger::ReportFilter filter;
  tools::Format format = tools::Format::kTable;
  if (!dir || !ParseReportOptions(flags, "recoveries", &filter, &format)) return kExitCannot;
  bool one = flags.count("household") > 0;
  if (one && (flags.count("region") || flags.count("programme"))) {
    fmt::print(stderr, "ledgerctl recoveries: --household is not combined with --region or --programme\n");
    return kExitCannot;
  }
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "recoveries", &code, tools::Access::kReading);
  if (!l) return code;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::RecoveriesResult>();
  Status s = l->Recoveries(filter, one ? flags.at("household") : "", result);
  if (!s.ok()) return Fail("recoveries", s, {"household", "region"});
  PrintRecoveries(result.asReader(), format);
  return kExitOk;
}

int RunReviews(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "reviews");
  ledger::ReportFilter filter;
  tools::Format format = tools::Format::kTable;
  auto as_of = ParseDateFlag(flags, "as-of", "reviews", Today());
  auto due_by = as_of ? ParseDateFlag(flags, "due-by", "reviews", *as_of) : std::nullopt;
  if (!dir || !due_by || !ParseReportOptions(flags, "reviews", &filter, &format)) return kExitCannot;
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "reviews", &code, tools::Access::kReading);
  if (!l) return code;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::RollResult>();
  Status s = l->Reviews(filter, *as_of, *due_by, result);
  if (!s.ok()) return Fail("reviews", s, {"region"});
  PrintRoll(result.asReader(), format);
  return kExitOk;
}

int RunTotals(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "totals");
  ledger::ReportFilter filter;
  tools::Format format = tools::Format::kTable;
  auto from = ParseDateFlag(flags, "from", "totals", 199001, true);
  auto to = from ? ParseDateFlag(flags, "to", "totals", 209912, true) : std::nullopt;
  if (!dir || !to || !ParseReportOptions(flags, "totals", &filter, &format)) return kExitCannot;
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "totals", &code, tools::Access::kReading);
  if (!l) return code;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::TotalsResult>();
  Status s = l->Totals(filter, *from, *to, result);
  if (!s.ok()) return Fail("totals", s, {"region"});
  if (tools::IsJson(format)) return tools::PrintResult(result.asReader(), format), kExitOk;
  tools::Report report({"programme", "period", "allocated", "issued", "settled", "failed", "returned", "recovered",
                        "balance", "payments", "household-months", "person-months"});
  auto add = [&](ledger::results::TotalsRow::Reader t, const std::string& programme, const std::string& period) {
    report.Row({programme, period, tools::Yuan(t.getAllocatedFen()), tools::Yuan(t.getIssuedFen()),
                tools::Yuan(t.getSettledFen()), tools::Yuan(t.getFailedFen()), tools::Yuan(t.getReturnedFen()),
                tools::Yuan(t.getRecoveredFen()), tools::Yuan(t.getBalanceFen()), std::to_string(t.getPayments()),
                std::to_string(t.getHouseholdMonths()), std::to_string(t.getPersonMonths())},
               {false, true, true, true, true, true, true, true, true, true, true, true});
  };
  for (auto t : result.getRows()) {
    add(t, ledger::ProgrammeName(static_cast<uint16_t>(t.getProgramme())), std::to_string(t.getPeriod()));
  }
  if (format == tools::Format::kTable && result.getRows().size() > 0) add(result.getAll(), "all", "");
  report.Print(format);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// reconcile

constexpr size_t kMaxBankFileBytes = size_t{512} << 20;
// One line's row of the table, from its record.
std::vector<std::string> LineRow(ledger::results::ReconcileLine::Reader m) {
  bool bank = m.hasBank(), in_ledger = m.hasLedger();
  auto b = m.getBank();
  auto p = m.getLedger();
  return {bank ? std::to_string(b.getLine()) : "",
          m.getEndToEndId(),
          ledger::results::CategoryName(m.getCategory()),
          bank ? tools::Yuan(b.getAmountFen()) : "",
          in_ledger ? tools::Yuan(p.getAmountFen()) : "",
          in_ledger ? ledger::ProgrammeName(static_cast<uint16_t>(p.getProgramme())) : "",
          in_ledger ? std::to_string(p.getPeriod()) : "",
          bank ? std::string(b.getReason()) : ""};
}

// Prints a row per line (as it goes: a province's file has millions), then, in a table, the
// summary record's counts and sums per category and issued against settled per programme.
void PrintReconciliation(const tools::Reconciled& matches, ledger::results::ReconcileResult::Reader summary,
                         tools::Format format) {
  tools::Report lines(
      {"line", "end_to_end_id", "category", "bank yuan", "ledger yuan", "programme", "period", "reason"});
  const std::vector<bool> numeric = {true, false, false, true, true, false, true, false};
  if (format == tools::Format::kTable) matches.ForEachLine([&](auto m) { lines.Fit(LineRow(m)); });
  lines.PrintHeader(format, matches.size() ? numeric : std::vector<bool>());
  matches.ForEachLine([&](auto m) { lines.PrintRow(LineRow(m), numeric, format); });
  if (format != tools::Format::kTable) return;
  fmt::print("\n");
  std::map<std::string, ledger::results::CategoryTotal::Reader> categories;  // Printed in order of name.
  for (auto c : summary.getCategories()) categories.emplace(ledger::results::CategoryName(c.getCategory()), c);
  tools::Report by_category({"category", "lines", "yuan"});
  for (const auto& [name, c] : categories) {
    by_category.Row({name, std::to_string(c.getLines()), tools::Yuan(c.getAmountFen())}, {false, true, true});
  }
  by_category.Print(format);
  fmt::print("\n");
  std::map<std::string, ledger::results::ProgrammeTotal::Reader> programmes;
  for (auto p : summary.getProgrammes())
    programmes.emplace(ledger::ProgrammeName(static_cast<uint16_t>(p.getProgramme())), p);
  tools::Report by_programme({"programme", "issued yuan", "settled yuan"});
  for (const auto& [name, p] : programmes) {
    by_programme.Row({name, tools::Yuan(p.getIssuedFen()), tools::Yuan(p.getSettledFen())}, {false, true, true});
  }
  by_programme.Print(format);
}

// Records the results (Ledger::RecordBankResults) into *applied; false after saying why.
bool ApplyBankResults(tools::Reconciled* matches, capnp::MallocMessageBuilder* applied) {
  auto refused = [](const Status& why) {
    fmt::print(stderr, "ledgerctl reconcile: a result was not recorded: {}\n", tools::ForCommandLine(why.ToString()));
  };
  Status s = matches->Apply(refused, applied->initRoot<ledger::results::ApplyOutcome>());
  if (!s.ok()) return Fail("reconcile", s), false;
  return true;
}

int RunReconcile(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "reconcile");
  auto file = dir ? Required(flags, "bank-file", "reconcile") : std::nullopt;
  tools::Format format = tools::Format::kTable;
  if (!file || !ParseFormatFlag(flags, "reconcile", &format)) return kExitCannot;
  std::optional<std::string> columns;
  if (flags.count("columns")) {
    Status s = ledger::BankFile::CheckColumns(*(columns = flags.at("columns")));
    if (!s.ok()) return Fail("reconcile", s, {"columns"}), kExitCannot;
  }
  tools::BankApply apply;
  apply.apply = flags.count("apply") && flags.at("apply") != "no";
  auto actor = apply.apply ? Required(flags, "actor", "reconcile") : std::optional<std::string>("");
  auto date = ParseDateFlag(flags, "date", "reconcile", Today());
  std::string text;
  std::unique_ptr<ledger::BankFile> bank;
  if (!actor || !date || !ReadFile(*file, kMaxBankFileBytes, &text, "reconcile")) return kExitCannot;
  apply.actor = *actor;
  apply.date = *date;
  // Checked here too: a malformed file is refused before anything is sent, as before anything is
  // opened. A server parses its own copy.
  std::string sent = tools::HasServer() ? text : std::string();
  Status s = ledger::BankFile::Parse(std::move(text), columns, &bank);
  if (!s.ok()) {
    fmt::print(stderr, "ledgerctl reconcile: {}: {} (nothing recorded)\n", *file, s.ToString());
    return kExitCannot;
  }
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "reconcile", &code, apply.apply ? tools::Access::kWriting : tools::Access::kReading);
  if (!l) return code;
  std::unique_ptr<tools::Reconciled> matches;
  if (!(s = l->Reconcile(std::move(bank), std::move(sent), columns, apply, &matches)).ok()) {
    return Fail("reconcile", s, {"bank-file"});
  }
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::ReconcileResult>();
  auto query = result.initQuery();
  query.setBankFile(*file);
  query.setApply(apply.apply);
  query.setActor(apply.actor);
  matches->Summary(result);
  capnp::MallocMessageBuilder applied;
  // JSON says what was applied in its one document, so the results are recorded first; a table
  // shows the lines first.
  bool ok = true;
  if (tools::IsJson(format)) {
    if (apply.apply && (ok = ApplyBankResults(matches.get(), &applied))) {
      result.setApplied(applied.getRoot<ledger::results::ApplyOutcome>().asReader());
    }
    tools::PrintResult(result.asReader(), format, "lines",
                       [&](const ledger::json::Emit& emit) { matches->ForEachLine([&](auto line) { emit(line); }); });
  } else {
    PrintReconciliation(*matches, result.asReader(), format);
    if (apply.apply && (ok = ApplyBankResults(matches.get(), &applied))) {
      auto counts = applied.getRoot<ledger::results::ApplyOutcome>().asReader();
      fmt::print("applied: {} results recorded, {} already recorded, {} refused\n", counts.getRecorded(),
                 counts.getAlreadyRecorded(), counts.getRefused());
    }
  }
  if (!ok) return kExitCannot;
  return result.getClean() ? kExitOk : kExitNo;
}

// ---------------------------------------------------------------------------------------------
// trace

// "2024-01-08 cw1+cw2" for a step of a chain ("... ca1 via mis1" when an integration actor
// submitted it), "" if the case has no such step.
std::string StepCell(bool has, ledger::results::TraceStep::Reader step) {
  if (!has) return "";
  uint32_t d = step.getDate();
  std::string actors;
  for (auto a : step.getActors()) actors += (actors.empty() ? "" : "+") + std::string(a);
  if (step.hasSubmittedBy()) actors += " via " + std::string(step.getSubmittedBy());
  return fmt::format("{} {}", ledger::calendar::IsoDate(d), actors);
}

// The result record, or tables (or CSV) made from it.
void PrintTrace(ledger::results::TraceResult::Reader t, tools::Format format) {
  if (tools::IsJson(format)) return tools::PrintResult(t, format);
  tools::Report chains(
      {"household", "case", "programme", "applied", "checked", "visited", "reviewed", "notice", "decided", "paid"});
  for (auto c : t.getChains()) {
    std::string decided = c.hasApproved()   ? "approved " + StepCell(true, c.getApproved())
                          : c.hasRejected() ? "rejected " + StepCell(true, c.getRejected())
                                            : "";
    std::string payers;
    for (auto p : c.getPayers()) payers += (payers.empty() ? "" : "+") + std::string(p);
    std::string paid =
        c.getPayments() ? fmt::format("{} x, {} yuan by {}", c.getPayments(), tools::Yuan(c.getPaidFen()), payers) : "";
    auto programme = static_cast<uint16_t>(c.getProgramme());
    chains.Row({c.getHousehold(), c.getCaseId(), programme ? ledger::ProgrammeName(programme) : "",
                StepCell(c.hasApplied(), c.getApplied()), StepCell(c.hasChecked(), c.getChecked()),
                StepCell(c.hasVisited(), c.getVisited()), StepCell(c.hasReviewed(), c.getReviewed()),
                StepCell(c.hasNotice(), c.getNotice()), decided, paid},
               {});
  }
  tools::Report flags({"seq", "household", "rule", "message", "events"});
  for (auto f : t.getFlags()) {
    std::string events;
    for (auto e : f.getEventIds()) events += (events.empty() ? "" : " ") + std::string(e);
    flags.Row({std::to_string(f.getSeq()), f.getHousehold(), f.getRule(), f.getMessage(), events},
              {true, false, false, false, false});
  }
  if (format == tools::Format::kTable) fmt::print("approval chains\n");
  chains.Print(format);
  if (format == tools::Format::kTable) fmt::print("\nred flags ({})\n", t.getFlags().size());
  if (format != tools::Format::kTable || t.getFlags().size() > 0) flags.Print(format);
}

int RunTrace(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "trace");
  tools::Format format = tools::Format::kTable;
  int given = static_cast<int>(flags.count("actor") + flags.count("household") + flags.count("region"));
  if (!dir) return kExitCannot;
  if (given != 1) {
    fmt::print(stderr, "ledgerctl trace: give one of --actor, --household or --region\n");
    return kExitCannot;
  }
  if (!ParseFormatFlag(flags, "trace", &format)) return kExitCannot;
  if (flags.count("region") && !ledger::IsValidRegionPrefix(flags.at("region"))) {
    fmt::print(stderr, "ledgerctl trace: --region \"{}\" is not a region prefix\n", flags.at("region"));
    return kExitCannot;
  }
  int code = kExitOk;
  auto l = tools::OpenSource(*dir, "trace", &code, tools::Access::kReading);
  if (!l) return code;
  using Scope = ledger::results::TraceScope;
  Scope scope = flags.count("actor") ? Scope::kActor : flags.count("household") ? Scope::kHousehold : Scope::kRegion;
  std::string asked = flags.count("actor")       ? flags.at("actor")
                      : flags.count("household") ? flags.at("household")
                                                 : flags.at("region");
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::TraceResult>();
  Status s = l->Trace(scope, asked, result);
  if (!s.ok()) return Fail("trace", s, {"actor", "household", "region"});
  PrintTrace(result.asReader(), format);
  return kExitOk;
}

// ---------------------------------------------------------------------------------------------
// rebuild

int RunRebuild(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  auto dir = Required(flags, "dir", "rebuild");
  if (!dir) return kExitCannot;
  int code = kExitOk;
  auto l = OpenOrReport(*dir, "rebuild", &code);
  if (!l) return code;
  ledger::RebuildReport report;
  Status s = l->Rebuild(&report);
  if (!s.ok()) return Fail("rebuild", s);
  double rate = report.seconds > 0 ? report.entries / report.seconds : 0;
  fmt::print("rebuilt the state from {} entries in {:.3f} s ({:.0f} events/s)\n", report.entries, report.seconds, rate);
  if (report.mismatches == 0) return kExitOk;
  fmt::print("{} entries do not get the findings they recorded; the first is seq {}: {}\n", report.mismatches,
             report.first_mismatch_seq, report.first_mismatch);
  return kExitNo;
}

// ---------------------------------------------------------------------------------------------
// rules

int RunRules(const std::map<std::string, std::string>& flags, const std::vector<std::string>&) {
  tools::Format format = tools::Format::kTable;
  if (!ParseFormatFlag(flags, "rules", &format)) return kExitCannot;
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::RulesResult>();
  ledger::Ledger::Rules(result);
  if (tools::IsJson(format)) return tools::PrintResult(result.asReader(), format), kExitOk;
  if (format == tools::Format::kCsv) fmt::print("rule,description\n");
  for (auto r : result.asReader().getRules()) {
    if (format == tools::Format::kCsv) {
      fmt::print("{},{}\n", tools::CsvField(r.getId()), tools::CsvField(r.getDescription()));
    } else {
      fmt::print("{:28} {}\n", r.getId().cStr(), r.getDescription().cStr());
    }
  }
  return kExitOk;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"init",
       "create a new, empty ledger",
       "usage: ledgerctl init --dir D [--policy enforce|record] [--origin NAME | --key SIGNER_KEY_FILE]\n\n"
       "Creates the ledger directory D: the database D/db and the keyed-hash secret D/secret\n"
       "(32 random bytes, mode 0600). Identity and card numbers are stored only masked and\n"
       "keyed-hashed with this secret: keep it, and keep it private. D must not exist or be empty.\n\n"
       "--policy says what happens to an event that breaks a domain rule (README lists the rules):\n"
       "  enforce  (default) it is refused, naming the rule: the ledger as the system of record;\n"
       "  record   it is appended with its findings, for importing an existing system's history,\n"
       "           violations included. Structural errors are refused under both.\n\n"
       "Checkpoints (ledgerctl checkpoint) are signed with the ledger's checkpoint key. Without\n"
       "--key, init makes an Ed25519 key pair named NAME (default benefit-ledger/<name of D>; use\n"
       "a name auditors will recognise, e.g. your office's domain and the ledger's purpose) and\n"
       "writes the signer key to D/checkpoint.key (mode 0600, keep it private) and the verifier\n"
       "key to D/checkpoint.pub (give it to auditors). With --key, it adopts a key made by\n"
       "ledgerctl keygen, which stays where you keep it. The checkpoints' origin is the key's name.\n",
       {"dir", "policy", "origin", "key"},
       RunInit},
      {"append",
       "append events, one JSON object per line",
       "usage: ledgerctl append --dir D [--group-size N] [--max-line-bytes N] [FILE|-]\n\n"
       "Reads events as JSON Lines from FILE (or standard input) and prints one JSON result per\n"
       "line: {\"line\":N,\"status\":\"created\",\"seq\":S,\"hash\":H}, \"exists\" (same event id, same\n"
       "content: nothing appended, the original seq), or \"error\" with the field (or the broken\n"
       "rule) and the reason. A created event may carry \"findings\": any under the record policy,\n"
       "under enforce only flags that do not refuse (exit.overpayment: an exit learned of late).\n"
       "Lines are committed in groups of up to N (default 1000): one atomic write, synced to disk\n"
       "before any result of the group is printed. A rejected line appends nothing and does not\n"
       "stop the others. Blank lines are skipped. Lines longer than --max-line-bytes (default\n"
       "1048576) are rejected. Exit status 0 if every line was created or already there, 1 if\n"
       "any was rejected, 2 if the input or the ledger could not be used.\n",
       {"dir", "group-size", "max-line-bytes"},
       RunAppend},
      {"show",
       "print one entry as JSON",
       "usage: ledgerctl show --dir D --seq N\n\n"
       "Prints entry N (counting from 1) as one line of JSON: its hash, recordedAt, kind and the\n"
       "stored entry (links of both chains and the event). 64-bit integers are JSON strings.\n",
       {"dir", "seq"},
       RunShow},
      {"verify",
       "check every entry, both hash chains and every index",
       "usage: ledgerctl verify --dir D [--format table|json|jsonl]\n\n"
       "Recomputes every entry hash, the global chain, every household chain and every index,\n"
       "then the Merkle tree and every stored checkpoint with its household heads map.\n"
       "Prints one line: \"ok: ENTRIES entries, HOUSEHOLDS households, head HASH, SECONDS s, RATE\n"
       "events/s\" and exits 0, or \"FAILED at seq N: what is wrong\" and exits 1. --format json\n"
       "prints the same as one JSON object (the full head hash in hex).\n",
       {"dir", "format"},
       RunVerify},
      {"replay",
       "a household's history and its state after each event, chain checked",
       "usage: ledgerctl replay --dir D --household H [--as-of YYYYMMDD] [--format table|json|jsonl|csv|entries]\n\n"
       "Prints the household's events in order: date, kind, actor, amount, entry hash, the rules\n"
       "it broke (if recorded under the record policy) and the household's state after it (members,\n"
       "each case as it stands in the event's month, as the roll sees it, and its monthly\n"
       "entitlement). Each entry is checked on the way against the household chain and index.\n"
       "With --as-of, only events dated up to that day, then the state on that day. --format json\n"
       "prints one JSON document: the steps, each with the state after it as fields, and the state\n"
       "on the --as-of date; jsonl one record a line. --format entries prints the stored entries\n"
       "as JSON. Reads only this household's entries. Exits 1 if the household does not exist or\n"
       "its chain does not check.\n",
       {"dir", "household", "format", "as-of"},
       RunReplay},
      {"rebuild",
       "recompute the domain state and projections from the log",
       "usage: ledgerctl rebuild --dir D\n\n"
       "Throws away the derived state (what the rules and the reports read) and recomputes it from\n"
       "the log alone, running every event through the rules again. Says how many entries, and\n"
       "which first, do not get the findings they recorded (exit 1): the rules changed since they\n"
       "were appended. Appends are refused until an interrupted rebuild is run again.\n",
       {"dir"},
       RunRebuild},
      {"upgrade",
       "rewrite a ledger made by an older version into this version's layout",
       "usage: ledgerctl upgrade --dir D\n\n"
       "Rewrites, in place, the rows this version stores differently (ledger/core/STORAGE.md, format\n"
       "versions): from benefit-ledger/1, the household and event-id indexes and the lowest levels\n"
       "of the Merkle tree. The log, the state and the checkpoints are not touched. Each row is\n"
       "checked against the log first, before anything is written: one that does not match stops\n"
       "the upgrade (exit 2) and leaves the ledger as it was. A run cut short (a crash) can be run\n"
       "again. Then verifies the ledger (exit 0 ok, 1 failed). Other commands refuse an old ledger\n"
       "until it is upgraded; the old version cannot read an upgraded one.\n",
       {"dir"},
       RunUpgrade},
      {"roll",
       "who is on the roll (在册名单) on a date",
       "usage: ledgerctl roll --dir D [--as-of YYYYMMDD] [--region PREFIX] [--programme P]\n"
       "                      [--format table|json|jsonl|csv]\n\n"
       "Lists the cases on the roll on the date (default today): approved by then, not exited (the\n"
       "months of a gradual exit count), with the monthly entitlement in force, members covered,\n"
       "whether suspended and when the next review is due. Amounts in yuan; --format json prints one\n"
       "JSON document (amounts in integer fen, dates YYYY-MM-DD), jsonl one record a line (README,\n"
       "\"Output formats\").\n",
       {"dir", "as-of", "region", "programme", "format"},
       RunRoll},
      {"recoveries",
       "payments made after their case's exit: amounts due, ordered, recovered, outstanding",
       "usage: ledgerctl recoveries --dir D [--region PREFIX] [--programme P] [--household H]\n"
       "                            [--format table|json|jsonl|csv]\n\n"
       "Lists every case paid for months after its exit (and its gradual-exit months): an exit or\n"
       "death recorded after those months were paid (rule exit.overpayment), or a payment after an\n"
       "exit recorded under the record policy (payment.after_exit). Per case: the last month that may\n"
       "be paid, the payments after it and their months, the amount due (what they paid; a payment\n"
       "that failed or was annulled paid nothing), ordered (recoveryOrdered against them), recovered\n"
       "(returned by the bank) and outstanding (due - ordered - recovered, never below 0). Amounts\n"
       "in yuan (integer fen in --format json and jsonl: README \"Output formats\"). --household\n"
       "reads that household only.\n",
       {"dir", "region", "programme", "household", "format"},
       RunRecoveries},
      {"totals",
       "funding totals per programme and month",
       "usage: ledgerctl totals --dir D [--from YYYYMM] [--to YYYYMM] [--region PREFIX] [--programme P]\n"
       "                        [--format table|json|jsonl|csv]\n\n"
       "Sums, over the regions under the prefix: funds allocated, payments issued, settled, failed and\n"
       "returned, recoveries ordered, the balance (allocated - settled + returned), payments,\n"
       "household-months (户次) and person-months (人次). Amounts in yuan (integer fen in --format\n"
       "json, one document, and jsonl, one record a line).\n",
       {"dir", "from", "to", "region", "programme", "format"},
       RunTotals},
      {"reviews",
       "cases on the roll whose review is due",
       "usage: ledgerctl reviews --dir D [--as-of YYYYMMDD] [--due-by YYYYMMDD] [--region PREFIX]\n"
       "                         [--programme P] [--format table|json|jsonl|csv]\n\n"
       "Lists the cases on the roll on --as-of (default today) whose review falls due by --due-by\n"
       "(default: the same day, i.e. overdue ones). --format json and jsonl: as roll's.\n",
       {"dir", "as-of", "due-by", "region", "programme", "format"},
       RunReviews},
      {"reconcile",
       "match a bank's result file against the ledger",
       "usage: ledgerctl reconcile --dir D --bank-file F.csv [--columns id=COL,amount=COL,...]\n"
       "                           [--apply yes --actor A [--date YYYYMMDD]] [--format table|json|jsonl|csv]\n\n"
       "Reads the bank's result file (CSV with a header: end_to_end_id, amount in yuan, status\n"
       "settled/failed/returned, reason, bank_reference, optional date; --columns renames them)\n"
       "and reports every line as matched, failed, returned, amount mismatch, unknown, duplicate\n"
       "result or paid after exit, plus payments on the same rolls with no result (missing\n"
       "result), with counts and sums per category and issued against settled per programme.\n"
       "--apply yes records the settled, failed and returned results as events by actor A (value\n"
       "date from the file, else --date, else today), 1000 to a group; a second run records nothing\n"
       "new, and completes a run that stopped half-way. A malformed file is refused with its line\n"
       "number and nothing is recorded. --format json prints one JSON document (with --apply, the\n"
       "results are recorded first and the document says how many), jsonl one record a line.\n"
       "Exit 0 if every line matched and none is missing, 1 otherwise.\n",
       {"dir", "bank-file", "columns", "apply", "actor", "date", "format"},
       RunReconcile},
      {"trace",
       "approval chains and red flags, for inspectors",
       "usage: ledgerctl trace --dir D (--actor A | --household H | --region PREFIX) [--format "
       "table|json|jsonl|csv]\n\n"
       "Lists every case in scope with who applied, checked, visited, reviewed, posted the notice,\n"
       "decided and paid, with dates; then the red flags: the findings of the rules module\n"
       "(ledgerctl rules) recorded on the entries in scope, each with its rule id and the events\n"
       "behind it. Under the enforce policy events that break rules are refused, so the flags are\n"
       "those of ledgers kept under record (imported histories), and flags that do not refuse\n"
       "(exit.overpayment: an exit recorded after months it ends were paid). With --actor, the\n"
       "cases the actor acted on and the flags on the actor's entries. --format json prints one\n"
       "JSON document, each step's date and actors as fields and each flag as an object; jsonl one\n"
       "record a line.\n",
       {"dir", "actor", "household", "region", "format"},
       RunTrace},
      {"payroll",
       "issue a county's monthly payment roll; export its bank file",
       tools::kPayrollUsage,
       {"dir", "county", "programme", "period", "actor", "key", "date", "dry-run", "format", "roll", "out"},
       tools::RunPayroll},
      {"sign", "sign events with an actor's key, for append", tools::kSignUsage, {"key"}, tools::RunSign},
      {"keygen",
       "make an Ed25519 key pair (checkpoints, actors' signatures)",
       tools::kKeygenUsage,
       {"name", "out"},
       tools::RunKeygen},
      {"setkey",
       "give a ledger made before checkpoints its checkpoint key",
       tools::kSetkeyUsage,
       {"dir", "origin", "key"},
       tools::RunSetkey},
      {"checkpoint",
       "make, sign and store a checkpoint of the head; list them",
       tools::kCheckpointUsage,
       {"dir", "key", "list", "format"},
       tools::RunCheckpoint},
      {"prove",
       "inclusion, consistency and household-completeness proofs as JSON",
       tools::kProveUsage,
       {"dir", "seq", "size", "from", "to", "household"},
       tools::RunProve},
      {"verify-proof",
       "check a proof offline, against a signed checkpoint",
       tools::kVerifyProofUsage,
       {"checkpoint", "key", "format"},
       tools::RunVerifyProof},
      {"credential",
       "issue an actor's credential for connecting to ledgerd",
       tools::kCredentialUsage,
       {"dir", "actor", "out", "tls-dir"},
       tools::RunCredential},
      {"console-login",
       "a one-time URL signing a browser in to ledgerd's web console",
       tools::kConsoleLoginUsage,
       {},
       tools::RunConsoleLogin},
      {"cluster",
       "a replicated ledger's members, leader and lag, from its etcd",
       tools::kClusterUsage,
       {"etcd", "ledger-id", "format"},
       tools::RunCluster},
      {"rules",
       "list the domain rules and their ids",
       "usage: ledgerctl rules [--format table|json|jsonl|csv]\n\n"
       "Lists every domain rule the ledger checks on append, with the id that findings and\n"
       "refusals name.\n",
       {"format"},
       RunRules},
  };
  return kCommands;
}

void PrintUsage(FILE* out) {
  fmt::print(out,
             "ledgerctl: Benefit Ledger, a tamper-evident ledger of social-assistance payments\n\n"
             "usage: ledgerctl COMMAND [options]   (ledgerctl COMMAND --help for more)\n\ncommands:\n");
  for (const auto& c : Commands()) fmt::print(out, "  {:12}  {}\n", c.name, c.summary);
  fmt::print(out,
             "\nagainst a server (ledgerd), as the actor of a credential (ledgerctl credential issue), without --dir:\n"
             "  ledgerctl --server HOST:PORT --credential A.cred COMMAND [options]\n"
             "  for append, show, verify, replay, roll, reviews, totals, trace, recoveries, payroll, reconcile,\n"
             "  checkpoint and prove; console-login only so\n");
}

// Takes --server HOST:PORT and --credential FILE from before the command out of *args.
bool ServerOptions(std::vector<char*>* args) {
  std::string server, credential;
  while (args->size() >= 3 && (std::string((*args)[1]) == "--server" || std::string((*args)[1]) == "--credential")) {
    (std::string((*args)[1]) == "--server" ? server : credential) = (*args)[2];
    args->erase(args->begin() + 1, args->begin() + 3);
  }
  if (server.empty() != credential.empty()) {
    fmt::print(stderr,
               "ledgerctl: --server and --credential go together (ledgerctl --server HOST:PORT --credential "
               "A.cred COMMAND ...)\n");
    return false;
  }
  if (!server.empty()) tools::SetServer(server, credential);
  return true;
}

// The commands ledgerd serves so far (tools/ledgerd/ledgerd.capnp).
bool RunsOnServer(std::string_view command) {
  for (const char* c : {"append", "show", "verify", "replay", "roll", "reviews", "totals", "trace", "recoveries",
                        "payroll", "reconcile", "checkpoint", "prove", "console-login"}) {
    if (command == c) return true;
  }
  return false;
}

// Runs a command and makes sure its output reached standard output: a report cut short by a full
// disk or a closed pipe is an error (exit 2) that says so, never an abort or a silent success.
int RunCommand(const Command& c, const Args& args) {
  ::signal(SIGPIPE, SIG_IGN);  // A reader that went away is a write error (EPIPE), reported below.
  int code = kExitOk;
  tools::SetLedgerDir(args.flags.count("dir") ? args.flags.at("dir") : "");
  try {
    code = c.run(args.flags, args.positional);
  } catch (const std::system_error& e) {  // fmt::print on a failed write.
    ::fprintf(stderr, "ledgerctl %s: cannot write the output: %s\n", c.name, e.code().message().c_str());
    return kExitCannot;
  }
  if (::fflush(stdout) != 0 || ::ferror(stdout)) {
    ::fprintf(stderr, "ledgerctl %s: cannot write the output: %s\n", c.name, strerror(errno));
    return kExitCannot;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // A closed standard stream is opened read-only on /dev/null: writes to it still fail (EBADF, and
  // are reported), and no file the command opens takes its number.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) == -1 && ::open("/dev/null", O_RDONLY) != fd) return kExitCannot;
  }
  // ledgerctl --server HOST:PORT --credential A.cred COMMAND ...: the command runs against ledgerd.
  std::vector<char*> words(argv, argv + argc);
  if (!ServerOptions(&words)) return kExitCannot;
  argc = static_cast<int>(words.size());
  argv = words.data();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" || std::string(argv[1]) == "help") {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitCannot : kExitOk;
  }
  for (const auto& c : Commands()) {
    if (argv[1] != std::string(c.name)) continue;
    auto args = ParseArgs(c, argc, argv);
    if (!args) return kExitCannot;
    if (args->help) {
      fmt::print("{}", c.usage);
      return kExitOk;
    }
    if (tools::HasServer() && !RunsOnServer(c.name)) {
      fmt::print(stderr, "ledgerctl {}: not available with --server (yet): run it with --dir on the server's host\n",
                 c.name);
      return kExitCannot;
    }
    return RunCommand(c, *args);
  }
  fmt::print(stderr, "ledgerctl: unknown command \"{}\"\n\n", argv[1]);
  PrintUsage(stderr);
  return kExitCannot;
}
