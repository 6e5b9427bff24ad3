# posture_probe.cmake - the posture probe (worker/posture_probe.py) as a C string.
#
# `reelbox posture` runs the probe as a real job on any host, where the source tree is
# not: the binary carries it. Run in script mode by the build:
#
#   cmake -DIN=worker/posture_probe.py -DOUT=build/posture_probe.c -P cmake/posture_probe.cmake
#
# OUT defines `const char posture_probe_py[]` (and its length without the NUL) for
# posture.h. A probe with a control character other than tab and newline, or a byte
# outside ASCII, fails the build: the script is the job's bytes, kept plain.

if(NOT IN OR NOT OUT)
	message(FATAL_ERROR "posture_probe.cmake: run with -DIN=<posture_probe.py> -DOUT=<file.c>")
endif()

file(READ "${IN}" BODY)
string(REPLACE "\r\n" "\n" BODY "${BODY}")
if(BODY MATCHES "^[ \t\n]*$")
	message(FATAL_ERROR "${IN}: the posture probe is empty")
endif()
string(ASCII 1 2 3 4 5 6 7 8 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 127
	CONTROL)
if(BODY MATCHES "[${CONTROL}]")
	message(FATAL_ERROR "${IN}: the posture probe holds a control character; remove it")
endif()
string(REGEX MATCH "[^\t\n -~]" NONASCII "${BODY}")
if(NONASCII)
	message(FATAL_ERROR "${IN}: the posture probe holds a byte outside ASCII; remove it")
endif()
string(LENGTH "${BODY}" LEN)

set(C "${BODY}")
string(REPLACE "\\" "\\\\" C "${C}")
string(REPLACE "\"" "\\\"" C "${C}")
string(REPLACE "?" "\\?" C "${C}") # never a trigraph, whatever the compiler's -std
string(REPLACE "\t" "\\t" C "${C}")
string(REPLACE "\n" "\\n\"\n\t\"" C "${C}")

string(CONCAT SRC
	"/* Generated from ${IN} by cmake/posture_probe.cmake: do not edit. */\n"
	"#include <stddef.h>\n\n"
	"#include \"posture.h\"\n\n"
	"const char posture_probe_py[] =\n\t\"${C}\";\n"
	"const size_t posture_probe_py_len = ${LEN};\n")
file(WRITE "${OUT}" "${SRC}")
