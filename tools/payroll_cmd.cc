// ledgerctl payroll: issue a county's monthly roll from the ledger, export its bank file.

#include <fmt/format.h>

#include "ledger/domain/json.h"
#include "ledger/domain/signing.h"
#include "ledger/reports/payroll.h"
#include "ledger/reports/results.h"
#include "ledger/util/formats.h"
#include "tools/commands.h"
#include "tools/report.h"

namespace tools {
namespace {

using ledger::Status;
namespace payroll = ledger::payroll;

const char* const kCommand = "payroll";

std::optional<payroll::Request> ParseRequest(const Flags& flags) {
  payroll::Request r;
  auto county = Required(flags, "county", kCommand);
  auto programme = county ? Required(flags, "programme", kCommand) : std::nullopt;
  auto actor = programme ? Required(flags, "actor", kCommand) : std::nullopt;
  auto period = actor ? Required(flags, "period", kCommand) : std::nullopt;
  if (!period) return std::nullopt;
  auto parsed = ledger::ParseProgramme(*programme);
  if (!parsed) {
    fmt::print(stderr, "ledgerctl payroll: unknown --programme \"{}\" (e.g. urban_dibao, rural_dibao)\n", *programme);
    return std::nullopt;
  }
  std::string month = *period;  // YYYY-MM or YYYYMM
  if (month.size() == 7 && month[4] == '-') month.erase(4, 1);
  auto p = ParseDateFlag({{"period", month}}, "period", kCommand, 0, true);
  auto date = p ? ParseDateFlag(flags, "date", kCommand, Today()) : std::nullopt;
  if (!date) return std::nullopt;
  r.county = *county;
  r.programme = static_cast<ledger::schema::Programme>(*parsed);
  r.period = *p;
  r.actor_id = *actor;
  r.date = *date;
  return r;
}

// The plan's lines and, in a table, the cases left off, from its result record.
void PrintPlan(ledger::results::PayrollResult::Reader plan, Format format) {
  Report lines({"end_to_end_id", "household", "case", "card", "payee", "amount yuan"});
  for (auto l : plan.getLines()) {
    lines.Row({l.getEndToEndId(), l.getHousehold(), l.getCaseId(), l.getCardMasked(), l.getPayeeName(),
               Yuan(l.getAmountFen())},
              {false, false, false, false, false, true});
  }
  lines.Print(format);
  if (format != Format::kTable || plan.getSkipped().size() == 0) return;
  fmt::print("\nnot on the roll:\n");
  Report skipped({"household", "case", "why"});
  for (auto s : plan.getSkipped()) skipped.Row({s.getHousehold(), s.getCaseId(), s.getReason()}, {false, false, false});
  skipped.Print(format);
}

// Appends the plan's events as one all-or-nothing group and sets the seqs of the first and last
// entry appended. With `key` (the actor's, who has one in the ledger), the roll is signed
// (ledger/signing.h). kExitOk, or the exit code after saying why on stderr.
int Issue(ledger::Log* l, const payroll::Plan& plan, const payroll::Request& r, const ledger::note::KeyPair* key,
          uint64_t* first_seq, uint64_t* last_seq) {
  auto owned = payroll::Events(plan, r);
  std::vector<capnp::MessageBuilder*> group;
  for (auto& m : owned) {
    bool signed_kind = ledger::signing::IsSignedKind(m->getRoot<ledger::schema::Event>().which());
    Status s = key != nullptr && signed_kind ? ledger::signing::SignEvent(m.get(), *key) : Status::Ok();
    if (!s.ok()) return Fail(kCommand, s);
    group.push_back(m.get());
  }
  std::vector<ledger::AppendResult> results;
  Status s = l->AppendGroup(group, &results, ledger::Log::GroupMode::kAllOrNothing);
  if (!s.ok()) return Fail(kCommand, s);
  for (const auto& result : results) {
    if (result.outcome != ledger::AppendResult::Outcome::kRejected || result.dropped_with_group) continue;
    std::string why = result.findings.empty() ? result.error.ToString()
                                              : result.findings.front().rule + ": " + result.findings.front().message;
    fmt::print(stderr, "ledgerctl payroll: nothing issued: {}\n", why);
    return kExitNo;
  }
  *first_seq = results.front().seq;
  *last_seq = results.back().seq;
  return kExitOk;
}

int RunIssue(const Flags& flags) {
  auto dir = Required(flags, "dir", kCommand);
  auto request = dir ? ParseRequest(flags) : std::nullopt;
  Format format = Format::kTable;
  if (!request) return kExitCannot;
  if (flags.count("format") && !ParseFormat(flags.at("format"), &format)) {
    fmt::print(stderr, "ledgerctl payroll: --format is {}, not \"{}\"\n", kFormats, flags.at("format"));
    return kExitCannot;
  }
  bool dry_run = flags.count("dry-run") && flags.at("dry-run") != "no";
  ledger::note::KeyPair key;
  if (flags.count("key") && !ReadSignerKeyFile(flags.at("key"), &key, kCommand)) return kExitCannot;
  int code = kExitOk;
  auto l = OpenOrReport(*dir, kCommand, &code);
  if (!l) return code;
  payroll::Plan plan;
  Status s = payroll::MakePlan(*l, *request, &plan);
  if (!s.ok()) return Fail(kCommand, s, {"county", "programme", "period"});
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::PayrollResult>();
  ledger::results::BuildPayroll(*request, dry_run, plan, result);
  // JSON is one document with the outcome in it: printed once the roll is issued (or not). A
  // table shows the lines first, then what happened.
  bool json = IsJson(format);
  if (!json) PrintPlan(result.asReader(), format);
  auto* out = format == Format::kTable ? stdout : stderr;  // Keep JSON and CSV output clean.
  using Outcome = ledger::results::PayrollOutcome;
  if (plan.roll_exists) {
    fmt::print(out, "roll {} was issued before: nothing issued{}\n", plan.roll_id,
               plan.lines.empty() ? "" : fmt::format(" ({} payable cases above are not on it)", plan.lines.size()));
    result.setOutcome(Outcome::ISSUED_BEFORE);
  } else if (plan.already_paid > 0) {
    fmt::print(out, "{} already paid for the month on other rolls\n",
               ledger::Counted(plan.already_paid, "case", "cases"));
  }
  if (plan.roll_exists) {
    // Nothing more to do.
  } else if (plan.lines.empty()) {
    fmt::print(out, "no payable case: nothing issued\n");
    result.setOutcome(Outcome::NOTHING_DUE);
  } else if (dry_run) {
    fmt::print(out, "dry run: roll {} not issued\n", plan.roll_id);
    result.setOutcome(Outcome::DRY_RUN);
  } else {
    uint64_t first = 0, last = 0;
    code = Issue(l.get(), plan, *request, flags.count("key") ? &key : nullptr, &first, &last);
    result.setOutcome(code == kExitOk ? Outcome::ISSUED : Outcome::REFUSED);
    result.setFirstSeq(first);
    result.setLastSeq(last);
    if (code == kExitOk && !json) {
      fmt::print("issued roll {}: {} payments, {} yuan, by {} on {}, entries {} to {}\n", plan.roll_id,
                 plan.lines.size(), Yuan(plan.control_sum_fen), request->actor_id, request->date, first, last);
    }
  }
  if (json) PrintResult(result.asReader(), format);
  return code;
}

std::string BankFile(const payroll::IssuedRoll& roll) {
  std::string out = "roll_id,county,programme,period,line_count,control_sum\n";
  out += fmt::format("{},{},{},{},{},{}\n", CsvField(roll.roll_id), roll.county, ledger::ProgrammeName(roll.programme),
                     roll.period, roll.lines.size(), Yuan(roll.sum_fen));
  out += "end_to_end_id,card,payee_name,amount\n";
  for (const auto& l : roll.lines) {
    out += fmt::format("{},{},{},{}\n", CsvField(l.payment_id), CsvField(l.card_masked), CsvField(l.payee_name),
                       Yuan(l.amount_fen));
  }
  return out;
}

int RunExport(const Flags& flags) {
  auto dir = Required(flags, "dir", kCommand);
  auto roll_id = dir ? Required(flags, "roll", kCommand) : std::nullopt;
  auto path = roll_id ? Required(flags, "out", kCommand) : std::nullopt;
  if (!path) return kExitCannot;
  int code = kExitOk;
  auto l = OpenOrReport(*dir, kCommand, &code);
  if (!l) return code;
  payroll::IssuedRoll roll;
  Status s = payroll::ReadRoll(*l, *roll_id, &roll);
  if (!s.ok()) return Fail(kCommand, s, {"roll_id=roll"});
  if (!WriteFileAtomically(*path, BankFile(roll), kCommand)) return kExitCannot;
  fmt::print("wrote {}: roll {}, {} payments, {} yuan\n", *path, roll.roll_id, roll.lines.size(), Yuan(roll.sum_fen));
  return kExitOk;
}

}  // namespace

const char* const kPayrollUsage =
    "usage: ledgerctl payroll issue --dir D --county C --programme P --period YYYY-MM --actor A\n"
    "                               [--key A.key] [--date YYYYMMDD] [--dry-run yes] [--format table|json|jsonl|csv]\n"
    "       ledgerctl payroll export --dir D --roll R --out F.csv\n\n"
    "issue: generates the month's payment roll of county C (6 digits) for programme P from the\n"
    "ledger: one payment for every case the rules say is payable that month (approved, not\n"
    "suspended or exited, review not overdue) and not paid yet, for the entitlement in force, to\n"
    "the card on file (given at application or paid to last). Appends the roll (line count and\n"
    "control sum) and its payments as one all-or-nothing group by actor A (a finance officer),\n"
    "dated --date (default today). The roll id is R-C-P-YYYYMM: running it again issues nothing.\n"
    "Prints the lines, the cases left off and why. --dry-run yes prints without issuing. If A has\n"
    "a public key in the ledger, the roll must be signed: --key is A's signer key (ledgerctl sign).\n"
    "--format json prints one JSON document once done: the lines, the cases left off and the\n"
    "outcome (issued with its entries, issued_before, nothing_due, dry_run or refused); jsonl one\n"
    "record a line. Exit 0 if issued or nothing was due, 1 if the ledger refused the roll, 2 on\n"
    "bad options.\n\n"
    "export: writes roll R's bank instruction file as CSV: a header record (roll_id, county,\n"
    "programme, period, line_count, control_sum) then end_to_end_id, card (masked: the ledger\n"
    "never holds card numbers; the bank pays the account it has on file for it), payee_name and\n"
    "amount for each payment not voided. Amounts in yuan. The file is written whole or not at all.\n";

int RunPayroll(const Flags& flags, const Positional& positional) {
  std::string what = positional.empty() ? "" : positional.front();
  if (positional.size() == 1 && what == "issue") return RunIssue(flags);
  if (positional.size() == 1 && what == "export") return RunExport(flags);
  fmt::print(stderr, "ledgerctl payroll: say issue or export (see ledgerctl payroll --help)\n");
  return kExitCannot;
}

}  // namespace tools
