/* Compiles one public header on its own: every header must be self-contained. */
#include KPS_TEST_HEADER

int main(void) { return 0; }
