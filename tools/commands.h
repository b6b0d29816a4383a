// Commands of ledgerctl that live in their own files; ledgerctl.cc lists them with their help.
#pragma once

#include <optional>
#include <string>

#include "benefit_ledger/keys.h"
#include "cli.h"

namespace tools {

// payroll_cmd.cc: `payroll issue` and `payroll export`.
int RunPayroll(const Flags& flags, const Positional& positional);
extern const char* const kPayrollUsage;

// sign_cmd.cc: `sign`, an actor's signature on its events (benefit_ledger/events.h).
int RunSign(const Flags& flags, const Positional& positional);
extern const char* const kSignUsage;

// evidence_cmd.cc: `keygen`, `setkey`, `checkpoint`, `prove`, `verify-proof` (benefit_ledger/evidence.h).
int RunKeygen(const Flags& flags, const Positional& positional);
int RunSetkey(const Flags& flags, const Positional& positional);
int RunCheckpoint(const Flags& flags, const Positional& positional);
int RunProve(const Flags& flags, const Positional& positional);
int RunVerifyProof(const Flags& flags, const Positional& positional);
extern const char* const kKeygenUsage;
extern const char* const kSetkeyUsage;
extern const char* const kCheckpointUsage;
extern const char* const kProveUsage;
extern const char* const kVerifyProofUsage;

// credential_cmd.cc: `credential issue`, an actor's credential for ledgerd (tools/ledgerd/tls_ca.h).
int RunCredential(const Flags& flags, const Positional& positional);
extern const char* const kCredentialUsage;

// console_cmd.cc: `console-login`, a one-time sign-in URL of ledgerd's web console.
int RunConsoleLogin(const Flags& flags, const Positional& positional);
extern const char* const kConsoleLoginUsage;

// cluster_cmd.cc: `cluster status`, a replicated ledger as its etcd holds it (ledgerd --etcd).
int RunCluster(const Flags& flags, const Positional& positional);
extern const char* const kClusterUsage;

// The checkpoint key of a ledger, for init and setkey: --key SIGNER_KEY_FILE adopted, or a new
// key named --origin (default "benefit-ledger/<name of dir>"). Plan checks the options before
// anything is made; WriteCheckpointKeyFiles writes a new key to DIR/checkpoint.key (0600) and
// DIR/checkpoint.pub (init: after Log::Create recorded the key in the genesis entry); Adopt
// (setkey) writes them and records the key in the ledger. They print why they fail.
struct CheckpointKeyPlan {
  ledger::note::KeyPair key;
  bool generated = false;
};
std::optional<CheckpointKeyPlan> PlanCheckpointKey(const Flags& flags, const std::string& dir, const char* command);
bool WriteCheckpointKeyFiles(const std::string& dir, const CheckpointKeyPlan& plan, const char* command);
void PrintCheckpointKey(const std::string& dir, const CheckpointKeyPlan& plan);
int AdoptCheckpointKey(const std::string& dir, const CheckpointKeyPlan& plan, const char* command);

}  // namespace tools
