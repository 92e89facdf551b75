# make [build] | make install PREFIX=DIR [DESTDIR=STAGE] | make uninstall PREFIX=DIR | make test
# (make -o build install ... installs what target/release holds, without running cargo.)
#
# Installs the launcher as PREFIX/bin/greenshim and the preload library as
# PREFIX/lib/greenshim/libgreenshim.so, where the launcher looks for it (src/libpath.rs).
# DESTDIR stages the tree for a package (the launcher still looks relative to itself).
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BIN := $(DESTDIR)$(PREFIX)/bin
LIBDIR := $(DESTDIR)$(PREFIX)/lib/greenshim

.PHONY: build install uninstall test

build:
	$(CARGO) build --release

install: build
	install -d -m 755 $(BIN) $(LIBDIR)
	install -m 755 target/release/greenshim $(BIN)/greenshim
	install -m 755 target/release/libgreenshim.so $(LIBDIR)/libgreenshim.so

uninstall:
	rm -f $(BIN)/greenshim $(LIBDIR)/libgreenshim.so
	-rmdir $(LIBDIR) 2>/dev/null

test:
	scripts/test.sh
