// The one doctest main for every test program; it first skips (77) a run whose
// LW_TEST_MODE asks for a backend this machine cannot give.
#define DOCTEST_CONFIG_IMPLEMENT
#include "test_support.h"

int main(int argc, char **argv)
{
	lw::test::skipIfModeUnavailable();
	doctest::Context context(argc, argv);
	return context.run();
}
