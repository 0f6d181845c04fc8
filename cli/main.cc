// privcast: the CLI entry point. Everything but process setup lives in RunCli (cli/cli.h).
#include <cstdlib>
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  const char* env = std::getenv("PRIVCAST_API");
  int rc = privcast::cli::RunCli(argc, argv, std::cout, std::cerr, env ? env : "");
  std::cout.flush();
  return rc;
}
