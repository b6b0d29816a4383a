// ledgerctl console-login: a one-time URL that signs a browser in to ledgerd's web console as the
// credential's actor (tools/ledgerd/console.h). The actor's key stays here: the server gives
// the URL to the actor it authenticated by its certificate, and the URL is good once, briefly.
#include <fmt/format.h>

#include "commands.h"
#include "ledgerd/client.h"
#include "ledgerd/wire.h"
#include "source.h"

namespace tools {

const char* const kConsoleLoginUsage =
    "usage: ledgerctl --server HOST:PORT --credential A.cred console-login\n\n"
    "Prints a URL (https://CONSOLE_HOST:PORT/login?token=...) that signs a browser in to ledgerd's\n"
    "web console (ledgerd --console-listen) as actor A. Open it once, within the time it states\n"
    "(2 minutes); append &next=/household.html?id=H (URL-encoded) to land on a page. The browser\n"
    "gets a session cookie, not A's key; the session ends after ledgerd's --console-session-seconds\n"
    "or when ledgerd restarts.\n";

int RunConsoleLogin(const Flags&, const Positional& positional) {
  if (!positional.empty() || !HasServer()) {
    fmt::print(stderr, "ledgerctl console-login: run it against a server: {}", kConsoleLoginUsage);
    return kExitCannot;
  }
  std::unique_ptr<ledgerd::Client> client;
  ledger::Status s = ConnectServer(&client);
  if (!s.ok()) return Fail("console-login", s);
  auto r = client->session().consoleLoginRequest().send().wait(client->wait_scope());
  if (r.hasFailure()) return Fail("console-login", ledgerd::FromWire(r.getFailure()));
  fmt::print("{}\n", r.getUrl().cStr());
  fmt::print(stderr, "open it in a browser within {} s; it signs in once\n", r.getExpiresInSeconds());
  return kExitOk;
}

}  // namespace tools
