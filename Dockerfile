# The hub's image for those who can pull from a registry. Without one, `make image`
# (scripts/hub-image.sh) builds the same image from the local toolchain.
#
#   docker build -t mcphub .
#   docker run -p 8080:8080 -v $PWD/mcphub.yaml:/etc/mcphub/mcphub.yaml:ro \
#     mcphub serve --config /etc/mcphub/mcphub.yaml --http 0.0.0.0:8080
#
# Listening beyond loopback needs auth.api_keys in the config (or auth.allow_unauthenticated).
# The browser and sandbox servers need a Chromium (or a remote Chrome: servers.browser.remote_url)
# and a Docker Engine (servers.sandbox.docker_host); this image carries neither.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata \
	-ldflags "-s -w -X main.version=${VERSION}" -o /out/mcphub ./cmd/mcphub \
	&& mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mcphub /mcphub
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV MCPHUB_DATA=/data
EXPOSE 8080
ENTRYPOINT ["/mcphub"]
CMD ["serve", "--http", "0.0.0.0:8080"]
