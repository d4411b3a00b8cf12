package vuln

import (
	"sort"
	"strings"
)

// Popular package names, the targets typosquatters imitate: the most
// downloaded PyPI and npm packages, plus legitimate packages that sit one
// edit away from another popular name (scapy/scipy, preact/react, boto/boto3)
// so that neither is reported as a squat of the other.
var popularPyPI = strings.Fields(`
boto3 botocore boto urllib3 requests setuptools certifi idna charset-normalizer
typing-extensions python-dateutil packaging s3transfer aiobotocore six pyyaml numpy
s3fs fsspec pip cryptography grpcio-status cffi pycparser attrs pydantic pydantic-core
protobuf importlib-metadata zipp jmespath rsa pyasn1 platformdirs wheel google-api-core
click pandas markupsafe jinja2 pytz filelock colorama tomli pyjwt cachetools
googleapis-common-protos wrapt pluggy pytest virtualenv jsonschema iniconfig psutil
sqlalchemy pyparsing aiohttp multidict yarl frozenlist aiosignal async-timeout
tzdata soupsieve beautifulsoup4 decorator docutils pyasn1-modules scipy scapy
requests-oauthlib oauthlib werkzeug flask itsdangerous blinker greenlet pillow
exceptiongroup tqdm openpyxl lxml h11 httpx httpcore anyio sniffio grpcio
google-auth distlib pygments rich markdown markdown2 markdown-it-py mdurl
tomlkit isort black mypy mypy-extensions pathspec coverage pytest-cov
more-itertools keyring jeepney secretstorage docker websocket-client websockets
paramiko pynacl bcrypt gunicorn uvicorn fastapi starlette redis celery kombu
vine billiard amqp psycopg2 psycopg2-binary psycopg pymysql pymongo matplotlib
kiwisolver cycler fonttools contourpy seaborn scikit-learn joblib threadpoolctl
torch torchvision tensorflow keras transformers tokenizers huggingface-hub
safetensors datasets openai anthropic tiktoken langchain langchain-core
langchain-community langsmith regex networkx sympy mpmath nltk opencv-python
python-dotenv python-multipart python-jose python-docx python-pptx pypdf pypdf2
pdfplumber reportlab xlsxwriter xlrd arrow pendulum dateparser simplejson ujson
orjson msgpack toml chardet selenium playwright pyppeteer scrapy twisted
sentry-sdk structlog loguru tenacity backoff retry ratelimit slack-sdk
discord-py tweepy stripe twilio sendgrid azure-core azure-storage-blob
google-cloud-storage google-cloud-bigquery pyarrow polars dask numba llvmlite
jupyter notebook ipython ipykernel traitlets tornado pyzmq nest-asyncio
setuptools-scm poetry poetry-core hatchling flit-core build twine nox tox
pre-commit flake8 pylint ruff autopep8 yapf pyflakes pycodestyle bandit
colorlog termcolor tabulate prettytable pyperclip pyautogui pynput keyboard
mouse pyinstaller cython pybind11 jsonpointer jsonpatch jsonpath-ng marshmallow
attr cattrs dataclasses-json pydantic-settings typer fire argparse docopt
`)

var popularNpm = strings.Fields(`
lodash react react-dom preact express axios chalk commander debug tslib
typescript moment uuid request async semver glob minimist yargs mkdirp rimraf
fs-extra colors underscore bluebird body-parser classnames prop-types vue
webpack babel-core @babel/core @babel/runtime @babel/preset-env eslint prettier
jest mocha chai sinon dotenv jsonwebtoken bcrypt bcryptjs mongoose mongodb mysql
mysql2 pg redis ioredis socket.io socket.io-client ws cors helmet morgan
cookie-parser express-session passport nodemailer multer sharp jimp
node-fetch cross-fetch isomorphic-fetch got superagent cheerio puppeteer
playwright jquery bootstrap rxjs zone.js @angular/core next nuxt svelte
react-router react-router-dom redux react-redux @reduxjs/toolkit zustand
styled-components emotion tailwindcss postcss autoprefixer sass less
nodemon concurrently cross-env ts-node tsx esbuild vite rollup parcel
@types/node @types/react @types/express inquirer ora boxen figlet cli-table3
yaml js-yaml xml2js csv-parse papaparse date-fns dayjs luxon validator
joi yup zod ajv qs query-string form-data formidable busboy archiver
adm-zip tar unzipper node-gyp nan bindings electron openai @anthropic-ai/sdk
langchain @langchain/core discord.js telegraf twilio stripe aws-sdk
@aws-sdk/client-s3 firebase firebase-admin graphql apollo-server
@apollo/client prisma @prisma/client sequelize typeorm knex sqlite3
better-sqlite3 winston pino bunyan log4js chokidar execa shelljs
cross-spawn which open clipboardy node-cron cron ethers web3 crypto-js
hash.js elliptic bn.js buffer events util path-browserify process
`)

// legitNear are real, established packages one edit away from a popular
// name that are not squats of it.
var legitNear = map[string]bool{
	"pytest-xdist": true, "requests-toolbelt": true, "react-is": true, "vue-router": true,
	"chai-http": true, "pg-pool": true, "pinia": true, "mocha-junit-reporter": true,
	"pyyaml-include": true, "typing": true, "rsa": true, "tox": true, "nox": true,
	"jest-cli": true, "uvloop": true, "grpcio-tools": true,
	// PyPI: MS SQL driver, PyTorch's job launcher, pretty YAML, discrete-event simulation.
	"pymssql": true, "torchx": true, "pyaml": true, "simpy": true,
	// npm: colour conversion, buffer lists, the promise-based SQLite wrapper, child processes.
	"color": true, "buffers": true, "sqlite": true, "exec": true,
}

type squatIndex struct {
	names   map[string]bool
	list    []string
	squash  map[string]string // separators removed → popular name
	sorted  map[string]string // tokens sorted → popular name
	minSize int
}

func newSquatIndex(eco string, names []string) *squatIndex {
	ix := &squatIndex{names: map[string]bool{}, squash: map[string]string{}, sorted: map[string]string{}, minSize: 5}
	for _, n := range names {
		n = NormalizeName(eco, n)
		ix.names[n] = true
		ix.list = append(ix.list, n)
		ix.squash[squash(n)] = n
		if t := tokens(n); len(t) > 1 {
			ix.sorted[strings.Join(t, " ")] = n
		}
	}
	return ix
}

var squatIndexes = map[string]*squatIndex{
	PyPI: newSquatIndex(PyPI, popularPyPI),
	Npm:  newSquatIndex(Npm, popularNpm),
}

// squash drops separators: "py-yaml", "py_yaml" and "pyyaml" are one name.
func squash(n string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, n)
}

// tokens splits a name at separators and sorts the parts.
func tokens(n string) []string {
	t := strings.FieldsFunc(n, func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	sort.Strings(t)
	return t
}

// Typosquat returns the popular package name that name imitates, if it
// looks like a typosquat of one: one edit (insertion, deletion, substitution
// or swap of neighbours) from a popular name of five or more characters,
// the same name with separators added or removed, or the same words in
// another order (dateutil-python for python-dateutil). A popular name
// itself is never a typosquat.
func Typosquat(eco, name string) (string, bool) {
	ix := squatIndexes[baseEcosystem(eco)]
	if ix == nil || name == "" {
		return "", false
	}
	n := NormalizeName(eco, name)
	if ix.names[n] || legitNear[n] {
		return "", false
	}
	if p, ok := ix.squash[squash(n)]; ok {
		return p, true
	}
	if t := tokens(n); len(t) > 1 {
		if p, ok := ix.sorted[strings.Join(t, " ")]; ok {
			return p, true
		}
	}
	for _, p := range ix.list {
		if len(p) < ix.minSize || abs(len(p)-len(n)) > 1 {
			continue
		}
		if oneEdit(n, p) {
			return p, true
		}
	}
	return "", false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// oneEdit reports whether a and b (which differ) are one insertion,
// deletion, substitution or adjacent transposition apart.
func oneEdit(a, b string) bool {
	if a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	switch len(b) - len(a) {
	case 0:
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case 1:
		return a[i:] == b[i+1:]
	}
	return false
}
