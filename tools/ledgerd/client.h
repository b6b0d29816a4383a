// A connection to ledgerd (ledgerd.capnp), for ledgerctl --server and the tests: mutual TLS with
// an actor's credential (tls_ca.h), the server checked against the ledger's CA in the
// credential and the name kServerName, then Cap'n Proto RPC. A Client is used on the thread that
// made it: the Clients of one thread share its KJ event loop (made with the first of them), and
// their calls are made with .wait(client->wait_scope()). Answers of up to kMaxAnswerBytes are
// read (a reconcile's lines can be larger than its bank file).
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/compat/tls.h>

#include <memory>
#include <mutex>
#include <string>

#include "benefit_ledger/status.h"
#include "tools/ledgerd/ledgerd.capnp.h"

namespace ledgerd {

class Client {
 public:
  static constexpr size_t kMaxAnswerBytes = size_t{1} << 30;
  // Connects to `host_port` ("127.0.0.1:7700") as the actor of the credential file at
  // `credential_path`. IOError naming the server if it cannot connect or the TLS handshake
  // fails; InvalidArgument naming "credential" for a file that is not a credential.
  static ledger::Status Connect(const std::string& host_port, const std::string& credential_path,
                                std::unique_ptr<Client>* out);
  ~Client();

  rpc::LedgerSession::Client& session() { return *session_; }
  kj::WaitScope& wait_scope() { return io_->waitScope; }

  struct Io;  // client.cc

 private:
  Client();
  std::shared_ptr<Io> io_holder_;  // This thread's event loop, shared by its Clients.
  kj::AsyncIoContext* io_;
  kj::Own<kj::TlsContext> tls_;
  kj::Own<kj::AsyncIoStream> stream_;
  kj::Own<capnp::TwoPartyVatNetwork> network_;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc_;
  kj::Own<rpc::LedgerSession::Client> session_;
};

}  // namespace ledgerd
