/* loader.h - the warm python3 member's loader: the program a pool member's interpreter
 * runs (`python3 -c` for an exec'd member, compiled once in the zygote for a cloned one):
 * it waits for one job's message on stdin and runs the script as __main__ (pool.c says
 * what the message holds; zygote.c what a cloned member adds before and after it). */
#ifndef REELBOX_LOADER_H
#define REELBOX_LOADER_H

extern const char pool_python_loader[];

#endif
