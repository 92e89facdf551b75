/* A wait that only a signal can end (poll on no fds, no timeout) is not a deadlock. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <errno.h>
void h(int s){}
int main(){ struct sigaction sa={0}; sa.sa_handler=h; sigaction(SIGALRM,&sa,0); alarm(1); int r=poll(0,0,-1); printf("poll=%d errno=%d\n",r,errno); return 0;}
