# model_prompt.cmake - the worker's system prompt, taken from docs/writing-scripts.md.
#
# One source for both: the ```text block under "## A prompt for a language model" is what a
# person pastes into a chat and what a prompt job sends as its system prompt, so the two
# cannot drift. Run in script mode by the build:
#
#   cmake -DIN=docs/writing-scripts.md -DOUT=build/model_prompt.c -P cmake/model_prompt.cmake
#
# OUT defines `const char model_prompt_text[]`: the block's lines, each ending in "\n", as
# one C string literal. A missing heading, block or closing fence fails the build with a
# sentence saying which.

if(NOT IN OR NOT OUT)
	message(FATAL_ERROR "model_prompt.cmake: run with -DIN=<writing-scripts.md> -DOUT=<file.c>")
endif()

set(HEADING "## A prompt for a language model")
set(WHERE "${IN}: the model prompt (a ```text block under \"${HEADING}\")")

file(READ "${IN}" DOC)
string(REPLACE "\r\n" "\n" DOC "${DOC}")
set(DOC "\n${DOC}")

string(FIND "${DOC}" "\n${HEADING}\n" at)
if(at EQUAL -1)
	message(FATAL_ERROR "${WHERE} is missing: there is no line \"${HEADING}\"; "
		"the worker's system prompt is generated from it, so put the heading back")
endif()
string(LENGTH "\n${HEADING}" skip)
math(EXPR at "${at} + ${skip}")
string(SUBSTRING "${DOC}" ${at} -1 SECTION)

# The block must belong to this section: no other heading before its opening fence.
string(FIND "${SECTION}" "\n```text\n" open)
if(open EQUAL -1)
	message(FATAL_ERROR "${WHERE} is missing: the section has no line \"```text\" "
		"opening the prompt's block")
endif()
string(SUBSTRING "${SECTION}" 0 ${open} BEFORE)
if(BEFORE MATCHES "\n#+ ")
	message(FATAL_ERROR "${WHERE} is missing: another heading comes before the first "
		"```text block after \"${HEADING}\"")
endif()
math(EXPR open "${open} + 9")
string(SUBSTRING "${SECTION}" ${open} -1 REST)

# The closing fence: the first line that starts with ``` (Markdown would close there too).
set(REST "\n${REST}")
string(FIND "${REST}" "\n```" close)
if(close EQUAL -1)
	message(FATAL_ERROR "${WHERE} is not closed: no line \"```\" ends the block")
endif()
math(EXPR after "${close} + 4")
string(SUBSTRING "${REST}" ${after} -1 TAIL)
if(NOT TAIL MATCHES "^[ \t]*(\n|$)")
	message(FATAL_ERROR "${WHERE} has a line starting with ``` inside it, which would end "
		"the block in Markdown too; reword that line")
endif()
if(close EQUAL 0)
	message(FATAL_ERROR "${WHERE} is empty")
endif()
math(EXPR body_len "${close} - 1")
string(SUBSTRING "${REST}" 1 ${body_len} BODY)
if(BODY MATCHES "^[ \t\n]*$")
	message(FATAL_ERROR "${WHERE} is empty")
endif()

# Bytes a C string literal cannot hold as they are: only tab is allowed among the
# control characters (the prompt is prose; anything else is a mistake in the doc).
string(ASCII 1 2 3 4 5 6 7 8 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 127
	CONTROL)
if(BODY MATCHES "[${CONTROL}]")
	message(FATAL_ERROR "${WHERE} holds a control character; remove it")
endif()

set(C "${BODY}")
string(REPLACE "\\" "\\\\" C "${C}")
string(REPLACE "\"" "\\\"" C "${C}")
string(REPLACE "?" "\\?" C "${C}") # never a trigraph, whatever the compiler's -std
string(REPLACE "\t" "\\t" C "${C}")
string(REPLACE "\n" "\\n\"\n\t\"" C "${C}")

string(CONCAT SRC
	"/* Generated from ${IN} by cmake/model_prompt.cmake: do not edit.\n"
	" * Edit the ```text block under \"${HEADING}\" there instead. */\n"
	"#include \"promptmsg.h\"\n\n"
	"const char model_prompt_text[] =\n\t\"${C}\\n\";\n")
file(WRITE "${OUT}" "${SRC}")
