# A provincial node image: the tongban package with the CJK font its certificates need.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-arphic-uming \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tongban
COPY pyproject.toml README.md ./
COPY exchange exchange
COPY signing signing
COPY storage storage
COPY nodes nodes
COPY tongban_pb tongban_pb
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["tongban"]
