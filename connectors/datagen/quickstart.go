package datagen

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// The built-in scenarios (quickstart). They are written by hand rather than
// as annotated Avro schemas: they need relations an annotation cannot
// express (orders reference customers, a customer's name stays the same in
// every update, sensors walk smoothly), and hand-written generators are
// several times faster, which load tests want. Every value is drawn from
// the record's own PRNG or from hashes of (seed, entity), so records stay a
// pure function of (seed, position, event time).

// generator makes the records of one configuration. It is read-only after
// construction and shared by the connector's tasks.
type generator struct {
	valueSchema *connectors.Schema
	keySchema   *connectors.Schema // nil: null keys
	keyField    string             // the value field the key is made of, if any
	// value returns the record value for c.
	value func(c *genCtx) *connectors.Struct
	// key returns the record key of a value built by value.
	key func(c *genCtx, v *connectors.Struct) any
	// snapshot: records at positions below it carry the start time as
	// their event time (the initial load of a table, see customers).
	snapshot uint64
}

// scenario describes a quickstart.
type scenario struct {
	defaultKey string
	build      func(cfg scenarioConfig) (*connectors.Schema, func(c *genCtx) *connectors.Struct, uint64)
}

type scenarioConfig struct {
	customers int // customers.count
	sensors   int // sensors.count
}

var scenarios = map[string]scenario{
	"orders":    {defaultKey: "orderid", build: buildOrders},
	"customers": {defaultKey: "id", build: buildCustomers},
	"clicks":    {defaultKey: "userid", build: buildClicks},
	"sensors":   {defaultKey: "sensorid", build: buildSensors},
}

// quickstartNames lists the scenarios in documentation order.
var quickstartNames = []string{"orders", "customers", "clicks", "sensors"}

// Domains of hash3, one per kind of per-entity attribute.
const (
	domCustomerName uint64 = iota + 1
	domCustomerCity
	domCustomerZip
	domCustomerTier
	domItemPrice
	domSensorBase
	domSensorTemp
	domSensorHumidity
)

func withDoc(s *connectors.Schema, doc string) *connectors.Schema {
	s.Doc = doc
	return s
}

// newQuickstart builds the generator of a scenario, keyed by keyField (the
// scenario's default key field when empty).
func newQuickstart(name, keyField string, cfg scenarioConfig) (*generator, error) {
	sc, ok := scenarios[name]
	if !ok {
		return nil, fmt.Errorf("unknown quickstart %q (want one of %s)", name, strings.Join(quickstartNames, ", "))
	}
	schema, value, snapshot := sc.build(cfg)
	g := &generator{valueSchema: schema, value: value, snapshot: snapshot}
	if keyField == "" {
		keyField = sc.defaultKey
	}
	if err := g.setKey(keyField); err != nil {
		return nil, err
	}
	return g, nil
}

// setKey makes a top-level field of the value the record key (as text).
func (g *generator) setKey(name string) error {
	if name == "" {
		return nil
	}
	f, ok := g.valueSchema.Field(name)
	if !ok {
		names := make([]string, len(g.valueSchema.Fields))
		for i, f := range g.valueSchema.Fields {
			names[i] = f.Name
		}
		msg := fmt.Sprintf("the schema has no top-level field %q", name)
		if s := connectors.Suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return fmt.Errorf("%s; fields: %s", msg, strings.Join(names, ", "))
	}
	text, err := keyFunc(f.Schema)
	if err != nil {
		return fmt.Errorf("field %q %w", name, err)
	}
	idx := f.Index
	g.keyField = name
	g.keySchema = connectors.OptionalOf(connectors.StringSchema())
	if !f.Schema.Optional {
		g.keySchema = connectors.StringSchema()
	}
	// Integer keys are frequent (ids) and worth a path without the type
	// switch, and small ones (customer ids) come boxed from a table: a new
	// string in an interface costs two allocations. The text is the same.
	if f.Schema.Name == "" && (f.Schema.Type == connectors.TypeInt32 || f.Schema.Type == connectors.TypeInt64) {
		var small [smallKeys]any
		for i := range small {
			small[i] = strconv.Itoa(i)
		}
		g.key = func(_ *genCtx, v *connectors.Struct) any {
			var x int64
			switch n := v.At(idx).(type) {
			case int32:
				x = int64(n)
			case int64:
				x = n
			default:
				return nil
			}
			if x >= 0 && x < smallKeys {
				return small[x]
			}
			return strconv.FormatInt(x, 10)
		}
		return nil
	}
	g.key = func(_ *genCtx, v *connectors.Struct) any { return text(v.At(idx)) }
	return nil
}

// smallKeys is how many integer keys (0 and up) are kept as text.
const smallKeys = 1024

// Reference data. Cities carry their state, census region and the first
// three digits of their ZIP codes, so addresses are consistent.
type city struct {
	name, state, region string
	zip3                int64
}

var cities = []city{
	{"New York", "NY", "Northeast", 100}, {"Buffalo", "NY", "Northeast", 142},
	{"Boston", "MA", "Northeast", 21}, {"Philadelphia", "PA", "Northeast", 191},
	{"Pittsburgh", "PA", "Northeast", 152}, {"Newark", "NJ", "Northeast", 71},
	{"Hartford", "CT", "Northeast", 61}, {"Providence", "RI", "Northeast", 29},
	{"Chicago", "IL", "Midwest", 606}, {"Detroit", "MI", "Midwest", 482},
	{"Minneapolis", "MN", "Midwest", 554}, {"Columbus", "OH", "Midwest", 432},
	{"Cleveland", "OH", "Midwest", 441}, {"Milwaukee", "WI", "Midwest", 532},
	{"Kansas City", "MO", "Midwest", 641}, {"Omaha", "NE", "Midwest", 681},
	{"Atlanta", "GA", "South", 303}, {"Miami", "FL", "South", 331},
	{"Orlando", "FL", "South", 328}, {"Houston", "TX", "South", 770},
	{"Dallas", "TX", "South", 752}, {"Austin", "TX", "South", 787},
	{"Nashville", "TN", "South", 372}, {"Charlotte", "NC", "South", 282},
	{"Raleigh", "NC", "South", 276}, {"New Orleans", "LA", "South", 701},
	{"Baltimore", "MD", "South", 212}, {"Richmond", "VA", "South", 232},
	{"Los Angeles", "CA", "West", 900}, {"San Francisco", "CA", "West", 941},
	{"San Diego", "CA", "West", 921}, {"Sacramento", "CA", "West", 958},
	{"Seattle", "WA", "West", 981}, {"Portland", "OR", "West", 972},
	{"Denver", "CO", "West", 802}, {"Phoenix", "AZ", "West", 850},
	{"Las Vegas", "NV", "West", 891}, {"Salt Lake City", "UT", "West", 841},
	{"Albuquerque", "NM", "West", 871}, {"Boise", "ID", "West", 837},
}

var firstNames = []string{
	"Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
	"Mia", "William", "Amelia", "Benjamin", "Harper", "Lucas", "Evelyn", "Henry", "Abigail", "Theodore",
	"Emily", "Jack", "Ella", "Levi", "Scarlett", "Alexander", "Grace", "Mateo", "Chloe", "Daniel",
	"Aria", "Samuel", "Lily", "Sebastian", "Aurora", "David", "Zoey", "Joseph", "Nora", "Carter",
	"Priya", "Wei", "Fatima", "Kenji", "Amara", "Diego", "Leila", "Omar", "Ingrid", "Tariq",
}

var lastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Patel", "Chen", "Kim", "Okafor", "Novak", "Silva", "Cohen", "Yamamoto", "Schmidt", "Haddad",
}

// Tiers with their cumulative odds (per mille).
var tiers = []struct {
	name string
	upTo int
}{{"bronze", 550}, {"silver", 850}, {"gold", 970}, {"platinum", 1000}}

// customerAttrs are the attributes of a customer that never change.
type customerAttrs struct {
	first, last string
	city        int // index in cities
	zip         int64
}

func customer(seed uint64, id int64) customerAttrs {
	h := hash3(seed, domCustomerName, uint64(id))
	ci := int(hash3(seed, domCustomerCity, uint64(id)) % uint64(len(cities)))
	return customerAttrs{
		first: firstNames[h%uint64(len(firstNames))],
		last:  lastNames[(h>>32)%uint64(len(lastNames))],
		city:  ci,
		zip:   cities[ci].zip3*100 + int64(hash3(seed, domCustomerZip, uint64(id))%100),
	}
}

// pickCustomer draws a customer id in [1, n], skewed so that low ids order
// (and click) more often: id = 1 + floor(n*u^2), so the first tenth of the
// customers makes about a third of the orders.
func pickCustomer(r *rng, n int) int32 {
	u := r.float()
	return int32(1 + int(float64(n)*u*u))
}

// idBoxes holds customer ids already boxed (an int32 of 256 or more
// allocates when put in an interface), up to a bound on memory.
type idBoxes []any

const maxBoxedIDs = 1 << 16

func boxedIDs(n int) idBoxes {
	out := make(idBoxes, min(n, maxBoxedIDs)+1)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

func (b idBoxes) box(id int32) any {
	if int(id) < len(b) {
		return b[id]
	}
	return id
}

// The orders quickstart: Confluent's orders (ordertime, orderid, itemid,
// orderunits, address) plus customerid, price and amount.
const itemCount = 100

func buildOrders(cfg scenarioConfig) (*connectors.Schema, func(*genCtx) *connectors.Struct, uint64) {
	address := connectors.NewStruct("datagen.Address").Doc("Where the order ships: the customer's address.").
		Field("city", connectors.StringSchema()).
		Field("state", withDoc(connectors.StringSchema(), "Two-letter US state code.")).
		Field("zipcode", connectors.Int64Schema()).
		MustBuild()
	schema := connectors.NewStruct("datagen.Order").Doc("An order of the datagen orders quickstart.").
		Field("ordertime", withDoc(connectors.Int64Schema(), "When the order was placed, Unix epoch milliseconds: the record's event time.")).
		Field("orderid", withDoc(connectors.Int64Schema(), "The record's position in the connector's sequence: 0, 1, 2, ... unique across tasks.")).
		Field("customerid", withDoc(connectors.Int32Schema(), "The ordering customer, an id of the customers quickstart (1 to customers.count).")).
		Field("itemid", withDoc(connectors.StringSchema(), "Item_1 to Item_100.")).
		Field("orderunits", withDoc(connectors.Float64Schema(), "Quantity ordered, 0.10 to 9.99, in hundredths.")).
		Field("price", withDoc(connectors.Float64Schema(), "Unit price of the item, 1.00 to 100.00, fixed per item.")).
		Field("amount", withDoc(connectors.Float64Schema(), "orderunits * price, rounded to cents: the order's revenue.")).
		Field("address", address).
		MustBuild()

	// Boxed once: putting a value in an interface allocates, and most
	// fields come from small sets.
	var items, prices [itemCount]any
	priceOf := make([]float64, itemCount)
	for i := range itemCount {
		items[i] = "Item_" + strconv.Itoa(i+1)
		// Prices depend on the item only, so every order of an item agrees.
		p := round2(1 + 99*unitFloat(hash3(0, domItemPrice, uint64(i+1))))
		priceOf[i] = p
		prices[i] = p
	}
	var units [990]any
	for i := range units {
		units[i] = float64(i+10) / 100
	}
	cityNames := make([]any, len(cities))
	states := make([]any, len(cities))
	zips := make([]any, len(cities)*100)
	for i, c := range cities {
		cityNames[i], states[i] = c.name, c.state
		for z := range int64(100) {
			zips[i*100+int(z)] = c.zip3*100 + z
		}
	}
	customers := cfg.customers
	ids := boxedIDs(customers)
	return schema, func(c *genCtx) *connectors.Struct {
		r := &c.r
		cust := pickCustomer(r, customers)
		item := r.intn(itemCount)
		u := r.intn(len(units))
		a := customer(c.seed, int64(cust))
		ci := a.city
		addr := connectors.NewStructValue(address)
		addr.Set(0, cityNames[ci])
		addr.Set(1, states[ci])
		addr.Set(2, zips[ci*100+int(a.zip%100)])
		v := connectors.NewStructValue(schema)
		v.Set(0, c.tsMillis)
		v.Set(1, int64(c.pos))
		v.Set(2, ids.box(cust))
		v.Set(3, items[item])
		v.Set(4, units[u])
		v.Set(5, prices[item])
		v.Set(6, round2(float64(u+10)/100*priceOf[item]))
		v.Set(7, addr)
		return v
	}, 0
}

// The customers quickstart: a table of customers.count customers. Record n
// describes customer n mod customers.count + 1, so the first pass emits
// every customer once, in id order, and later passes are updates (the tier
// changes; name, email and address never do). The first pass carries
// timestamp.start as its event time: the table exists before the first
// order of an orders connector with the same timestamp.start.
func buildCustomers(cfg scenarioConfig) (*connectors.Schema, func(*genCtx) *connectors.Struct, uint64) {
	schema := connectors.NewStruct("datagen.Customer").Doc("A customer of the datagen customers quickstart.").
		Field("id", withDoc(connectors.Int32Schema(), "1 to customers.count.")).
		Field("name", connectors.StringSchema()).
		Field("email", connectors.StringSchema()).
		Field("city", connectors.StringSchema()).
		Field("state", withDoc(connectors.StringSchema(), "Two-letter US state code.")).
		Field("region", withDoc(connectors.StringSchema(), "US census region of the state: Northeast, Midwest, South or West.")).
		Field("tier", withDoc(connectors.StringSchema(), "Loyalty tier: bronze, silver, gold or platinum; may change from one pass to the next.")).
		Field("updated_at", withDoc(connectors.Int64Schema(), "Unix epoch milliseconds: the record's event time.")).
		MustBuild()
	n := uint64(cfg.customers)
	cityNames := make([]any, len(cities))
	states := make([]any, len(cities))
	regions := make([]any, len(cities))
	for i, c := range cities {
		cityNames[i], states[i], regions[i] = c.name, c.state, c.region
	}
	tierNames := make([]any, len(tiers))
	for i, t := range tiers {
		tierNames[i] = t.name
	}
	return schema, func(c *genCtx) *connectors.Struct {
		id := int64(c.pos%n) + 1
		pass := c.pos / n
		a := customer(c.seed, id)
		ci := a.city
		odds := int(hash3(c.seed, domCustomerTier, uint64(id)*1_000_003+pass) % 1000)
		tier := 0
		for tiers[tier].upTo <= odds {
			tier++
		}
		email := strings.ToLower(a.first) + "." + strings.ToLower(a.last) + strconv.FormatInt(id, 10) + "@example.com"
		v := connectors.NewStructValue(schema)
		v.Set(0, int32(id))
		v.Set(1, a.first+" "+a.last)
		v.Set(2, email)
		v.Set(3, cityNames[ci])
		v.Set(4, states[ci])
		v.Set(5, regions[ci])
		v.Set(6, tierNames[tier])
		v.Set(7, c.tsMillis)
		return v
	}, n
}

// The clicks quickstart: page views by customers.
var (
	pages = []string{
		"/", "/", "/", "/search", "/search", "/cart", "/checkout", "/account", "/help",
		"/category/books", "/category/garden", "/category/kitchen", "/category/toys", "/category/electronics",
	}
	referrers = []string{
		"https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
		"https://duckduckgo.com/", "https://news.ycombinator.com/", "https://t.co/", "newsletter",
	}
	devices = []struct {
		name string
		upTo int // cumulative per cent
	}{{"mobile", 58}, {"desktop", 92}, {"tablet", 100}}
)

func buildClicks(cfg scenarioConfig) (*connectors.Schema, func(*genCtx) *connectors.Struct, uint64) {
	schema := connectors.NewStruct("datagen.Click").Doc("A page view of the datagen clicks quickstart.").
		Field("ts", withDoc(connectors.Int64Schema(), "Unix epoch milliseconds: the record's event time.")).
		Field("userid", withDoc(connectors.Int32Schema(), "The viewer, an id of the customers quickstart (1 to customers.count).")).
		Field("page", withDoc(connectors.StringSchema(), "The path viewed; a third of the views are item pages /item/Item_N.")).
		Field("referrer", withDoc(connectors.OptionalOf(connectors.StringSchema()), "Where the visitor came from; null for direct visits (about 30%).")).
		Field("device", withDoc(connectors.StringSchema(), "mobile, desktop or tablet.")).
		MustBuild()
	boxedPages := make([]any, len(pages))
	for i, p := range pages {
		boxedPages[i] = p
	}
	itemPages := make([]any, itemCount)
	for i := range itemPages {
		itemPages[i] = "/item/Item_" + strconv.Itoa(i+1)
	}
	boxedRefs := make([]any, len(referrers))
	for i, r := range referrers {
		boxedRefs[i] = r
	}
	deviceNames := make([]any, len(devices))
	for i, d := range devices {
		deviceNames[i] = d.name
	}
	customers := cfg.customers
	ids := boxedIDs(customers)
	return schema, func(c *genCtx) *connectors.Struct {
		r := &c.r
		v := connectors.NewStructValue(schema)
		v.Set(0, c.tsMillis)
		v.Set(1, ids.box(pickCustomer(r, customers)))
		if r.intn(3) == 0 {
			v.Set(2, itemPages[r.intn(itemCount)])
		} else {
			v.Set(2, boxedPages[r.intn(len(boxedPages))])
		}
		if r.intn(10) >= 3 {
			v.Set(3, boxedRefs[r.intn(len(boxedRefs))])
		}
		d, pct := 0, r.intn(100)
		for devices[d].upTo <= pct {
			d++
		}
		v.Set(4, deviceNames[d])
		return v
	}, 0
}

// The sensors quickstart: sensors.count sensors report in turn (record n is
// sensor n mod sensors.count, its reading n / sensors.count). Temperature
// and humidity wander smoothly around a per-sensor base: fractal value
// noise over the reading number, which looks like a bounded random walk but
// can be computed for any reading on its own, as a restart at any position
// requires.
func buildSensors(cfg scenarioConfig) (*connectors.Schema, func(*genCtx) *connectors.Struct, uint64) {
	schema := connectors.NewStruct("datagen.SensorReading").Doc("A reading of the datagen sensors quickstart.").
		Field("ts", withDoc(connectors.Int64Schema(), "Unix epoch milliseconds: the record's event time.")).
		Field("sensorid", withDoc(connectors.StringSchema(), "sensor-0001 to sensor-N (N = sensors.count).")).
		Field("temperature", withDoc(connectors.Float64Schema(), "Degrees Celsius, two decimals: a base of 18 to 26 wandering by up to 6.")).
		Field("humidity", withDoc(connectors.Float64Schema(), "Relative humidity in per cent, two decimals, 0 to 100.")).
		MustBuild()
	n := uint64(cfg.sensors)
	ids := make([]any, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("sensor-%04d", i+1)
	}
	return schema, func(c *genCtx) *connectors.Struct {
		sensor := c.pos % n
		reading := c.pos / n
		base := hash3(c.seed, domSensorBase, sensor)
		baseTemp := 18 + 8*unitFloat(base)
		baseHum := 35 + 25*unitFloat(mix64(base))
		temp := baseTemp + 6*walk(c.seed, domSensorTemp, sensor, reading)
		hum := math.Min(100, math.Max(0, baseHum+20*walk(c.seed, domSensorHumidity, sensor, reading)))
		v := connectors.NewStructValue(schema)
		v.Set(0, c.tsMillis)
		v.Set(1, ids[sensor])
		v.Set(2, round2(temp))
		v.Set(3, round2(hum))
		return v
	}, 0
}

// walk is fractal value noise in [-1, 1]: five octaves of smoothly
// interpolated lattice values, periods 256 down to 16 readings, each half
// the amplitude of the one before, so that most of the movement is slow.
func walk(seed, domain, entity, x uint64) float64 {
	sum, norm := 0.0, 0.0
	amp := 1.0
	key := seed ^ mix64(entity+domain*golden)
	for octave := range 5 {
		period := uint64(256) >> octave
		i := x / period
		f := float64(x%period) / float64(period)
		a := 2*unitFloat(hash3(key, uint64(octave), i)) - 1
		b := 2*unitFloat(hash3(key, uint64(octave), i+1)) - 1
		t := f * f * (3 - 2*f) // smoothstep
		sum += amp * (a + (b-a)*t)
		norm += amp
		amp /= 2
	}
	return sum / norm
}
