// ledgerctl credential issue: what an actor needs to connect to ledgerd (tools/ledgerd/tls_ca.h):
// a certificate for the actor issued by the ledger's own CA, its key, and the CA certificate
// that identifies the server. Refuses actors the ledger has not registered.
#include <fmt/format.h>

#include "commands.h"
#include "ledgerd/tls_ca.h"

namespace tools {

const char* const kCredentialUsage =
    "usage: ledgerctl credential issue --dir D --actor A --out A.cred [--tls-dir T]\n\n"
    "Writes A.cred (mode 0600): a TLS client certificate for actor A issued by the ledger's CA, its\n"
    "private key and the CA's certificate, which is how the client recognises the server. The CA\n"
    "and the server's certificate live in T (default D/tls), made on first use; ledgerd reads them\n"
    "from there. A must be registered in the ledger, and not deactivated (exit 1 if not). The\n"
    "ledger is opened to check, so issue credentials while ledgerd is not running on D. Connect with\n"
    "ledgerctl --server HOST:PORT --credential A.cred COMMAND ...\n";

int RunCredential(const Flags& flags, const Positional& positional) {
  if (positional.size() != 1 || positional[0] != "issue") {
    fmt::print(stderr, "ledgerctl credential: say what to do: ledgerctl credential issue ... (see --help)\n");
    return kExitCannot;
  }
  auto dir = Required(flags, "dir", "credential");
  auto actor = dir ? Required(flags, "actor", "credential") : std::nullopt;
  auto out = actor ? Required(flags, "out", "credential") : std::nullopt;
  if (!out) return kExitCannot;
  int code = kExitOk;
  auto l = OpenOrReport(*dir, "credential", &code, Access::kReading);  // Also while ledgerd runs.
  if (!l) return code;
  ledger::ActorInfo info;
  ledger::Status s = l->LookupActor(*actor, &info);
  if (!s.ok()) return Fail("credential", s, {"actor"});
  if (!info.active) {
    // The ledger's answer is no (exit 1), as for an actor it never registered.
    return Fail("credential", ledger::Status::NotFound(fmt::format("actor \"{}\" was deactivated ({}: {})", *actor,
                                                                   info.deactivated_by, info.deactivation_reason),
                                                       "actor"));
  }
  l.reset();
  std::string tls_dir = ledgerd::TlsDir(*dir, flags.count("tls-dir") ? flags.at("tls-dir") : "");
  bool made = false;
  std::string credential;
  s = ledgerd::EnsureCa(tls_dir, &made);
  if (s.ok()) s = ledgerd::IssueCredential(tls_dir, *actor, &credential);
  if (!s.ok()) return Fail("credential", s);
  if (!WriteFileAtomically(*out, credential, "credential", 0600)) return kExitCannot;  // It holds a key.
  if (made) fmt::print("made the ledger's TLS CA and ledgerd's certificate in {} (keep ca.key private)\n", tls_dir);
  fmt::print("issued {} for actor {} (certificate by the CA in {}): keep it private\n", *out, *actor, tls_dir);
  return kExitOk;
}

}  // namespace tools
