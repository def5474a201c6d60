// Replays a fuzz target over its committed corpus as an ordinary test: every file
// below the folders given is fed to LLVMFuzzerTestOneInput once.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

int main(int argc, char **argv)
{
	std::size_t inputs = 0;
	for (int i = 1; i < argc; ++i) {
		for (const auto &entry : std::filesystem::recursive_directory_iterator(argv[i])) {
			if (!entry.is_regular_file())
				continue;
			std::ifstream in(entry.path(), std::ios::binary);
			std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
			LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
			++inputs;
		}
	}
	std::printf("%zu inputs replayed\n", inputs);
	return inputs > 0 ? 0 : 1; // an empty corpus proves nothing
}
