# web_page.cmake - the dashboard's page (worker/web/index.html) as a C string.
#
# `reelbox web` serves one page that carries its own CSS and script inline, so the
# binary needs no files beside it. Run in script mode by the build:
#
#   cmake -DIN=worker/web/index.html -DOUT=build/web_page.c -P cmake/web_page.cmake
#
# OUT defines `const char web_index_html[]` and its length (web.h). The build fails for a
# page the server could not serve as designed: anything but exactly one <script> and one
# <style> block (their hashes are the Content-Security-Policy, web_util.c), a script or
# stylesheet loaded from elsewhere, a control character or a byte outside ASCII.

if(NOT IN OR NOT OUT)
	message(FATAL_ERROR "web_page.cmake: run with -DIN=<index.html> -DOUT=<file.c>")
endif()

file(READ "${IN}" BODY)
string(REPLACE "\r\n" "\n" BODY "${BODY}")
foreach(tag "<script" "<style")
	string(REGEX MATCHALL "${tag}" FOUND "${BODY}")
	list(LENGTH FOUND N)
	if(NOT N EQUAL 1)
		message(FATAL_ERROR "${IN}: the page must hold exactly one ${tag}> block, not ${N}")
	endif()
endforeach()
if(NOT BODY MATCHES "<script>" OR NOT BODY MATCHES "<style>")
	message(FATAL_ERROR "${IN}: write <script> and <style> without attributes")
endif()
if(BODY MATCHES "(src|href)=\"(https?:)?//")
	message(FATAL_ERROR "${IN}: the page loads nothing from elsewhere")
endif()
string(ASCII 1 2 3 4 5 6 7 8 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 127
	CONTROL)
if(BODY MATCHES "[${CONTROL}]")
	message(FATAL_ERROR "${IN}: the page holds a control character; remove it")
endif()
string(REGEX MATCH "[^\t\n -~]" NONASCII "${BODY}")
if(NONASCII)
	message(FATAL_ERROR "${IN}: the page holds a byte outside ASCII; use an HTML entity or a \\u escape")
endif()
string(LENGTH "${BODY}" LEN)

set(C "${BODY}")
string(REPLACE "\\" "\\\\" C "${C}")
string(REPLACE "\"" "\\\"" C "${C}")
string(REPLACE "?" "\\?" C "${C}") # never a trigraph, whatever the compiler's -std
string(REPLACE "\t" "\\t" C "${C}")
string(REPLACE "\n" "\\n\"\n\t\"" C "${C}")

string(CONCAT SRC
	"/* Generated from ${IN} by cmake/web_page.cmake: do not edit. */\n"
	"#include <stddef.h>\n\n"
	"const char web_index_html[] =\n\t\"${C}\";\n"
	"const size_t web_index_html_len = ${LEN};\n")
file(WRITE "${OUT}" "${SRC}")
