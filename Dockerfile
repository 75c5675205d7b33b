# syntax=docker/dockerfile:1
# sockgate as a container: a static binary on an empty base. It starts as root only to bind its
# listeners and read the group of the engine's socket, then runs as uid 65534 with that group
# (SOCKGATE_USER), so it needs no `--group-add`; it refuses to serve as root if it cannot switch.
#
#   docker build -t sockgate .
#   docker run -d --name sockgate --restart unless-stopped \
#     --user 65534:65534 --group-add "$(stat -c %g /var/run/docker.sock)" \
#     --read-only --cap-drop ALL --security-opt no-new-privileges \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v sockgate:/run/sockgate \
#     sockgate
#
# That hardened line drops every capability, switching users included, so it starts sockgate as
# uid 65534 itself and adds the socket's group by hand. The named volume `sockgate` starts as the
# image's /run/sockgate, which that uid owns; clients mount the same volume. A host directory
# mounted there instead must be writable by uid 65534 (`install -d -o 65534 /run/sockgate`): one
# that Docker creates for a bind mount is root's.
#
# A docker-socket-proxy (Tecnativa, linuxserver) compose service works by changing only its
# `image:`: with its variables set (`CONTAINERS=1`, ...), sockgate also serves plain TCP on
# SOCKGATE_COMPAT_LISTEN (port 2375), to peers on the container networks it is attached to only.
# The health check asks /ready, so a container that cannot reach the engine is unhealthy. The
# shipped policies are built in (`--policy builtin:ci`) and also under /policies.
#
# Tests build the `runtime` stage from a binary built outside (`COPY --from=build /out/X` becomes
# `COPY X`), since no base image can be pulled there.

FROM rust:1-bookworm AS build
WORKDIR /src
# The commit `--version` names (there is no .git in the build context): --build-arg SOCKGATE_COMMIT=...
ARG SOCKGATE_COMMIT=
COPY Cargo.toml Cargo.lock rustfmt.toml build.rs ./
COPY src src
COPY policies policies
COPY benches benches
RUN RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin sockgate \
 && mkdir -p /out/run/sockgate \
 && cp target/x86_64-unknown-linux-gnu/release/sockgate /out/sockgate

FROM scratch AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="sockgate" \
      org.opencontainers.image.description="A Docker socket proxy and access-control gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/sockgate /sockgate
COPY --chown=65534:65534 --from=build /out/run /run
COPY policies/*.toml /policies/
# Started as root, sockgate binds, then becomes this user with the engine socket's group.
ENV SOCKGATE_USER=65534:65534 \
    SOCKGATE_COMPAT_LISTEN=tcp://0.0.0.0:2375
EXPOSE 2375 9323
HEALTHCHECK --interval=10s --timeout=3s --start-period=3s --retries=3 CMD ["/sockgate", "healthcheck", "--ready"]
ENTRYPOINT ["/sockgate"]
CMD ["serve", "--listen", "unix:///run/sockgate/docker.sock", "--admin-listen", "tcp://127.0.0.1:9323"]
