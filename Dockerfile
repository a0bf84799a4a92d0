# The app image: gunicorn with gevent workers, as a non-root user.
# Build: docker build -t greengrocer-chatbot .   Run the whole layout: docker compose up
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/chatbot

RUN groupadd --system chatbot && useradd --system --gid chatbot --home-dir /srv/chatbot --no-create-home chatbot

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY app ./app
COPY instance ./instance
COPY migrations ./migrations
COPY wsgi.py gunicorn.conf.py ./
RUN mkdir -p logs && chown chatbot:chatbot logs instance

USER chatbot

# Production settings: JSON logs to stdout, metrics summed across workers.
ENV FLASK_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/chatbot-metrics

EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
