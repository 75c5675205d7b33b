# sockgate as a container: a static binary on an empty base.
#
#   docker build -t sockgate .
#   docker run -d --name sockgate -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -v /run/sockgate:/run/sockgate sockgate
#
# The image runs as an unprivileged user; `--group-add` gives it the socket's group, which is all
# it needs to reach the engine.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY policies policies
COPY benches benches
RUN RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin sockgate \
 && cp target/x86_64-unknown-linux-gnu/release/sockgate /sockgate

FROM scratch AS runtime
COPY --from=build /sockgate /sockgate
COPY policies /policies
USER 65534:65534
ENTRYPOINT ["/sockgate"]
CMD ["serve", "--listen", "unix:///run/sockgate/docker.sock"]
