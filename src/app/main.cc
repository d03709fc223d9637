// bastion: entry point and subcommand dispatch.
#include <cstdio>

int main() {
  std::puts("bastion: under construction");
  return 0;
}
