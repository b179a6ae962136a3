# embed_file.cmake - cmake -DIN=FILE -DOUT=FILE.c -DNAME=SYMBOL -P embed_file.cmake
# Writes FILE's bytes as a C array: const uint8_t SYMBOL[] and const size_t SYMBOL_size.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* generated from ${IN} by cmake/embed_file.cmake: do not edit */\n#include <stddef.h>\n#include <stdint.h>\n"
     "const uint8_t ${NAME}[${size} + 1] = {\n${body}0};\nconst size_t ${NAME}_size = ${size};\n")
