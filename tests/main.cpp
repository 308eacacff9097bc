// The one Catch2 main for every test executable (compiled once).
// With ENTANGLE_JUNIT_DIR set, results go to <dir>/<exe>.xml as JUnit.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv); rc != 0)
    return rc;
  if (const char* dir = std::getenv("ENTANGLE_JUNIT_DIR")) {
    std::string exe = argv[0];
    exe = exe.substr(exe.find_last_of('/') + 1);
    session.configData().reporterName = "junit";
    session.configData().outputFilename = std::string{dir} + "/" + exe + ".xml";
  }
  return session.run();
}
