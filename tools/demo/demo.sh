#!/usr/bin/env bash
# The demo behind `make demo`: two years of a county appended to a new ledger under the enforce
# policy, a rule and a bad line refused, a household replayed, the ledger verified, a month's
# payroll issued, exported to the bank and the bank's results reconciled, a death learned of late
# and what is to be recovered, an old system's history
# imported under the record policy and traced by an inspector, a ledger of the previous storage
# layout upgraded, a tampered copy caught, a copy whose policy row was rewritten refused, and a
# copy served by ledgerd to two officials at once, one refused for impersonation, and read beside it.
set -euo pipefail
build=${1:-build}
ctl="$build/ledgerctl"
dir="$build/demo-ledger"
import="$build/demo-import"
here=$(cd "$(dirname "$0")" && pwd)
county="$build/demo-county.jsonl"
sample="$here/../../tests/data/every_kind.jsonl"  # every kind of event, not all of them lawful

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }
rm -rf "$dir" "$import"

step "Two years of a county as events: 40 households, monthly rolls, bank results, sweeps" \
  "gen_history --households 40 --years 2 > demo-county.jsonl"
"$build/gen_history" --households 40 --years 2 > "$county"
wc -l < "$county" | xargs printf '%s events, for example:\n'
sed -n '/"approval"/{p;q}' "$county"

step "Create a ledger that enforces the rules" "ledgerctl init --dir $dir"
"$ctl" init --dir "$dir"

step "Its first entry, the genesis: the policy, the checkpoint key, a check value of the keyed-hash secret" \
  "ledgerctl show --dir $dir --seq 1"
"$ctl" show --dir "$dir" --seq 1

step "Append the two years (one JSON result per line)" "ledgerctl append --dir $dir demo-county.jsonl"
"$ctl" append --dir "$dir" "$county" 2>&1 | sed -n '1,2p;$p' | sed '2a\  ...'

step "Send it again: nothing is appended twice" "ledgerctl append --dir $dir demo-county.jsonl"
"$ctl" append --dir "$dir" "$county" 2>&1 | sed -n '1p;$p' | sed '1a\  ...'

step "An event that breaks a rule is refused, naming the rule" "ledgerctl append --dir $dir -"
echo '{"eventId":"demo-exit","householdId":"H0000","regionCode":"341502000000","actorId":"ca1","businessDate":20260115,"exit":{"caseId":"C-H0000","reason":"death","lastPeriod":202601,"gradualExitMonths":3}}' |
  "$ctl" append --dir "$dir" - 2>&1 || echo "(exit status $?: not every line was accepted)"

step "So is a malformed one, naming the line, the field and the reason" "ledgerctl append --dir $dir -"
echo '{"eventId":"demo-bad","householdId":"H0000","regionCode":"341502000000","actorId":"ca1","businessDate":20250230,"suspension":{"caseId":"C-H0000","fromPeriod":202502,"reason":"x"}}' |
  "$ctl" append --dir "$dir" - 2>&1 || echo "(exit status $?)"

step "One payment as stored: the card only masked and keyed-hashed" \
  "ledgerctl show --dir $dir --seq \$(seq of P-202402-H0001)"
seq=$("$ctl" append --dir "$dir" "$county" 2>/dev/null | grep '"eventId":"P-202402-H0001"' | sed 's/.*"seq":\([0-9]*\).*/\1/')
"$ctl" show --dir "$dir" --seq "$seq"

step "An auditor replays household H0004 up to November (a standard rise, a correction), checking its chain" \
  "ledgerctl replay --dir $dir --household H0004 --as-of 20241105"
"$ctl" replay --dir "$dir" --household H0004 --as-of 20241105 2>&1 | sed -n '1,8p;/entitlementAdjusted/p;/correction/p;$p' |
  sed '8a\  ...' | uniq

step "Verify every entry, both chains and every index" "ledgerctl verify --dir $dir"
"$ctl" verify --dir "$dir"

step "Funding totals for the county, two months of rural 低保" \
  "ledgerctl totals --dir $dir --region 341502 --programme rural_dibao --from 202412 --to 202501"
"$ctl" totals --dir "$dir" --region 341502 --programme rural_dibao --from 202412 --to 202501

# A bank result file for January 2025: every payment of that month, with one failure, one
# wrong amount, one id the ledger never issued, and one payment left out.
bank="$build/demo-bank-202501.csv"
{
  echo "end_to_end_id,amount,status,reason,bank_reference"
  grep '"paymentIssued"' "$county" | grep '"period":202501' |
    sed -E 's/.*"paymentId":"([^"]+)".*"amountFen":([0-9]+).*/\1 \2/' |
    awk 'NR == 2 { next }
         { st = "settled"; why = ""; amount = $2 }
         NR == 3 { st = "failed"; why = "account closed" }
         NR == 4 { amount = $2 - 100 }
         { printf "%s,%d.%02d,%s,%s,B%05d\n", $1, amount / 100, amount % 100, st, why, NR }'
  echo "P-202501-X9999,500.00,settled,,B99999"
} > "$bank"
step "Finance reconciles the bank's result file for January 2025 (no --apply: report only)" \
  "ledgerctl reconcile --dir $dir --bank-file demo-bank-202501.csv"
"$ctl" reconcile --dir "$dir" --bank-file "$bank" | awk 'NR <= 6 || /category|programme/ || f { print } /^$/ { f = 1 }' || true

step "The county's funds for February 2026 arrive" "ledgerctl append --dir $dir -"
echo '{"eventId":"fund-rural_dibao-202602","regionCode":"341502000000","actorId":"fin1","businessDate":20260201,"fundsAllocated":{"allocationId":"F-rural_dibao-202602","regionPrefix":"341502","programme":"rural_dibao","period":202602,"amountFen":1100000,"source":"central and provincial"}}' |
  "$ctl" append --dir "$dir" - 2>&1 | cut -c1-100

step "Finance issues February 2026's rural 低保 roll from the ledger: who is due, how much, to which card" \
  "ledgerctl payroll issue --dir $dir --county 341502 --programme rural_dibao --period 2026-02 --actor fin1 --date 20260205"
"$ctl" payroll issue --dir "$dir" --county 341502 --programme rural_dibao --period 2026-02 --actor fin1 \
  --date 20260205 | sed -n '1,4p;$p' | sed '4a\  ...'

step "Issuing it again issues nothing" "ledgerctl payroll issue ... (the same)"
"$ctl" payroll issue --dir "$dir" --county 341502 --programme rural_dibao --period 2026-02 --actor fin1 \
  --date 20260205 | tail -1

instructions="$build/demo-bank-instructions-202602.csv"
step "The bank instruction file: a header with count and sum, masked cards only" \
  "ledgerctl payroll export --dir $dir --roll R-341502-rural_dibao-202602 --out demo-bank-instructions-202602.csv"
"$ctl" payroll export --dir "$dir" --roll R-341502-rural_dibao-202602 --out "$instructions"
sed -n '1,6p' "$instructions"

# The bank's answer (simulated here): every transfer settled but two.
results="$build/demo-bank-results-202602.csv"
{
  echo "end_to_end_id,amount,status,reason,bank_reference,date"
  awk -F, 'NR > 3 { n++; st = "settled"; why = ""
                    if (n == 2) { st = "failed"; why = "account closed" }
                    if (n == 5) { st = "failed"; why = "name and ID do not match" }
                    printf "%s,%s,%s,%s,B2602%04d,20260210\n", $1, $4, st, why, n }' "$instructions"
} > "$results"
step "Finance reconciles the bank's results and records them" \
  "ledgerctl reconcile --dir $dir --bank-file demo-bank-results-202602.csv --apply yes --actor fin1"
"$ctl" reconcile --dir "$dir" --bank-file "$results" --apply yes --actor fin1 |
  awk '/^$/ { f = 1 } f || NR <= 3' || true

step "Reconciling the same file again records nothing new" "ledgerctl reconcile ... --apply yes --actor fin1"
"$ctl" reconcile --dir "$dir" --bank-file "$results" --apply yes --actor fin1 | tail -1 || true

step "February 2026 in the funding totals: issued, settled, failed" \
  "ledgerctl totals --dir $dir --programme rural_dibao --from 202602 --to 202602"
"$ctl" totals --dir "$dir" --programme rural_dibao --from 202602 --to 202602

# Evidence for an auditor on another machine: a signed checkpoint, a household proof, and
# the offline check with only the proof, the note and the ledger's public key.
auditor="$build/demo-auditor"
rm -rf "$auditor" && mkdir -p "$auditor"
step "The office signs a checkpoint of the log (C2SP signed note: origin, size, root, households map)" \
  "ledgerctl checkpoint --dir $dir > checkpoint.note"
"$ctl" checkpoint --dir "$dir" > "$auditor/checkpoint.note"
cat "$auditor/checkpoint.note"
cp "$dir/checkpoint.pub" "$auditor/"

step "It proves household H0004's history complete at that checkpoint" \
  "ledgerctl prove household --dir $dir --household H0004 > H0004.json"
"$ctl" prove household --dir "$dir" --household H0004 > "$auditor/H0004.json"
wc -c < "$auditor/H0004.json" | xargs printf '%s bytes of JSON: every entry of H0004 with its inclusion proof, its head and neighbours in the map\n'

step "The auditor checks it offline: no ledger, only the proof, the note and the public key" \
  "ledgerctl verify-proof H0004.json --checkpoint checkpoint.note --key checkpoint.pub"
(cd "$auditor" && "../../$ctl" verify-proof H0004.json --checkpoint checkpoint.note --key checkpoint.pub)

step "An entry dropped from the proof (a payment hidden from the auditor) is caught" \
  "ledgerctl verify-proof H0004-cut.json --checkpoint checkpoint.note --key checkpoint.pub   # its 10th entry cut"
awk '/^ *\{"seq": / && ++n == 10 { next } { print }' "$auditor/H0004.json" > "$auditor/H0004-cut.json"
(cd "$auditor" && "../../$ctl" verify-proof H0004-cut.json --checkpoint checkpoint.note --key checkpoint.pub) ||
  echo "(exit status $?)"

step "A death learned of late: H0010 died in December 2025, found in February's sweep; accepted, the months paid after it flagged" \
  "ledgerctl append --dir $dir -"
echo '{"eventId":"H0010-death","householdId":"H0010","regionCode":"341502000000","actorId":"ca1","businessDate":20260220,"exit":{"caseId":"C-H0010","reason":"death","lastPeriod":202512,"note":"2025 年 12 月去世, 2 月核查发现"}}' |
  "$ctl" append --dir "$dir" - 2>&1

step "What is to be recovered (追回), and the inspector's red flags" \
  "ledgerctl recoveries --dir $dir --region 341502; ledgerctl trace --dir $dir --household H0010"
"$ctl" recoveries --dir "$dir" --region 341502
"$ctl" trace --dir "$dir" --household H0010 | sed -n '/^red flags/,$p'

step "Finance orders January's payment recovered: the outstanding amount falls" \
  "ledgerctl append --dir $dir -; ledgerctl recoveries --dir $dir --household H0010"
echo '{"eventId":"H0010-rec","householdId":"H0010","regionCode":"341502000000","actorId":"fin1","businessDate":20260225,"recoveryOrdered":{"recoveryId":"RC-H0010","paymentIds":["P-202601-H0010"],"amountFen":51094,"reason":"死亡后发放"}}' |
  "$ctl" append --dir "$dir" - >/dev/null 2>&1
"$ctl" recoveries --dir "$dir" --household H0010

step "Importing an old system's history: record keeps what breaks the rules, with findings" \
  "ledgerctl init --dir $import --policy record; ledgerctl append --dir $import every_kind.jsonl"
"$ctl" init --dir "$import" --policy record >/dev/null
"$ctl" append --dir "$import" "$sample" 2>&1 | grep '"eventId":"h1-apr"' | cut -c1-400
"$ctl" append --dir "$import" "$sample" >/dev/null 2>&1
"$ctl" replay --dir "$import" --household H2 2>&1

step "An inspector traces household H1 of the import: its approval chain and red flags" \
  "ledgerctl trace --dir $import --household H1 | grep -v actor.registered"
echo "(the sample registers few of its actors: those findings are left out here)"
"$ctl" trace --dir "$import" --household H1 | grep -v actor.registered

# A ledger written by the previous storage layout (tests/data/ledger_v1.md says how it was made).
old="$build/demo-ledger-v1"
rm -rf "$old" && cp -r "$here/../../tests/data/ledger_v1" "$old"
step "A ledger written by the previous version is refused until upgraded; its 32 entries stay as they are (entry 32 is dc744856…, the head version 1 printed), its genesis goes after them" \
  "ledgerctl verify --dir $old; ledgerctl upgrade --dir $old"
"$ctl" verify --dir "$old" 2>&1 || echo "(exit status $?)"
"$ctl" upgrade --dir "$old"
rm -rf "$old"

# Tampering: change one byte of the entry in the middle of the log directly in RocksDB (ldb).
copy="$build/demo-ledger-tampered"
rm -rf "$copy" && cp -r "$dir" "$copy"
middle=$(( $(wc -l < "$county") / 2 ))
key=$(printf '0x%016X' "$middle")
value=$(ldb --db="$copy/db" --column_family=log get "$key" --key_hex --value_hex)
mid=$(( ${#value} / 2 ))
flipped=$([ "${value:$mid:1}" = "0" ] && echo 1 || echo 0)
ldb --db="$copy/db" --column_family=log put "$key" "${value:0:$mid}$flipped${value:$((mid + 1))}" --key_hex --value_hex >/dev/null
step "Someone changes one byte of entry $middle on disk; verify names it" "ledgerctl verify --dir $copy"
"$ctl" verify --dir "$copy" || echo "(exit status $?)"
rm -rf "$copy"

# The policy row rewritten in place (enforce -> record), so that rule-breaking events would go in.
copy="$build/demo-ledger-policy"
rm -rf "$copy" && cp -r "$dir" "$copy"
ldb --db="$copy/db" put policy record >/dev/null
step "Someone rewrites the policy row (enforce -> record) on disk; verify names it, and nothing is appended" \
  "ldb --db=$copy/db put policy record; ledgerctl verify --dir $copy; ledgerctl append --dir $copy -"
"$ctl" verify --dir "$copy" || echo "(exit status $?)"
echo '{"eventId":"demo-exit","householdId":"H0000","regionCode":"341502000000","actorId":"ca1","businessDate":20250115,"exit":{"caseId":"C-H0000","reason":"death","lastPeriod":202501,"gradualExitMonths":3}}' |
  "$ctl" append --dir "$copy" - 2>&1 | grep -v WARNING | cut -c1-200 || echo "(exit status $?)"
rm -rf "$copy"
# A server: ledgerd serves a copy of the sample ledger to two officials at once over mutual TLS.
served="$build/demo-ledger-served"
rm -rf "$served" "$served.port" && cp -r "$dir" "$served"
step "Credentials for a caseworker and a county approver, from the ledger's own CA (made in $served/tls)" \
  "ledgerctl credential issue --dir $served --actor cw1-1 --out cw1-1.cred; ... --actor ca1 --out ca1.cred"
rm -f "$build/demo-cw1-1.cred" "$build/demo-ca1.cred"
"$ctl" credential issue --dir "$served" --actor cw1-1 --out "$build/demo-cw1-1.cred"
"$ctl" credential issue --dir "$served" --actor ca1 --out "$build/demo-ca1.cred"
step "ledgerd serves it on 127.0.0.1; the caseworker appends while the approver reads the roll" \
  "ledgerd --dir $served --listen 127.0.0.1:0 --port-file $served.port &; ledgerctl --server ... append; ... roll"
"$build/ledgerd" --dir "$served" --listen 127.0.0.1:0 --port-file "$served.port" --console-listen 127.0.0.1:0 \
  2>"$served.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$served.port" ] && break; sleep 0.1; done
address="127.0.0.1:$(cat "$served.port")"
as_cw="--server $address --credential $build/demo-cw1-1.cred"
as_ca="--server $address --credential $build/demo-ca1.cred"
echo '{"eventId":"D1-reg","householdId":"D1","regionCode":"341502001001","actorId":"cw1-1","businessDate":20260105,"householdRegistered":{"members":[{"person":{"number":"341502195203141236"},"name":"张三","relation":"head","birthDate":19520314}]}}' |
  "$ctl" $as_cw append - 2>&1 &
append_pid=$!
"$ctl" $as_ca roll --as-of 20251231 --region 341502001 | tail -1
wait "$append_pid" || true
step "The caseworker sends an approval in the approver's name: refused, the connection is cw1-1's" \
  "ledgerctl --server $address --credential cw1-1.cred append -"
echo '{"eventId":"D1-apr","householdId":"D1","regionCode":"341502000000","actorId":"ca1","businessDate":20260110,"approval":{"caseId":"C-D1","programme":"urban_dibao","monthlyAmountFen":50000,"membersCovered":1,"firstPeriod":202602,"reviewDueDate":20270110}}' |
  "$ctl" $as_cw append - 2>&1 || echo "(exit status $?)"
step "Beside the server, a command that only reads opens the ledger read-only and says how far it reads" \
  "ledgerctl verify --dir $served"
"$ctl" verify --dir "$served" 2>&1
step "The web console (HTTPS, same server): a one-time sign-in URL for the approver, valid 120 s" \
  "ledgerd ... --console-listen 127.0.0.1:0; ledgerctl --server $address --credential ca1.cred console-login"
"$ctl" $as_ca console-login
step "SIGTERM: ledgerd drains and exits 0; its log is JSON, a line per event" "kill -TERM <pid>; tail -3 $served.log"
kill -TERM "$server_pid"
wait "$server_pid" && echo "(exit status 0)"
tail -3 "$served.log"
rm -rf "$served" "$served.port" "$build/demo-cw1-1.cred"

# What a reader needs to browse the sample ledger afterwards: a credential of its own CA.
rm -f "$build/demo-ca1.cred"
"$ctl" credential issue --dir "$dir" --actor ca1 --out "$build/demo-ca1.cred" >/dev/null
printf '\nThe sample ledger is in %s; try: %s --help\n' "$dir" "$ctl"
printf 'Its web console, signed in as the county approver ca1 (credential %s):\n' "$build/demo-ca1.cred"
printf '  %s --dir %s --listen 127.0.0.1:7700 --console-listen 127.0.0.1:8443 &\n' "$build/ledgerd" "$dir"
printf '  %s --server 127.0.0.1:7700 --credential %s console-login   # open the URL it prints\n' "$ctl" "$build/demo-ca1.cred"
printf '  (the browser warns until it trusts %s/tls/ca.pem, the ledger'"'"'s own CA)\n' "$dir"
