/* Template admin: sObject and field pickers fed by an org's describe.
 *
 * Progressive enhancement. The "Describe org" select (class dm-describe-org) carries
 * the URL of the admin's describe view; with an org chosen, every sObject input gets a
 * datalist of that org's sObjects, and each template object gets a "Pick fields"
 * panel listing the object's fields with checkboxes for "copy" and "match key", and a
 * transform for each copied field (keep, mask, empty, fixed value, prefix, suffix). The
 * controls only read and write the JSON in the "fields", "match key" and "transforms"
 * textareas, which stay editable by hand (and are all there is without JavaScript).
 */
"use strict";
{
    const DATALIST_ID = "dm-sobject-choices";
    const pickers = new WeakMap();
    let fieldCache = new Map();

    function orgSelect() {
        return document.querySelector("select.dm-describe-org");
    }

    function element(tag, attributes = {}, ...children) {
        const node = document.createElement(tag);
        for (const [name, value] of Object.entries(attributes)) {
            if (name === "className") {
                node.className = value;
            } else {
                node.setAttribute(name, value);
            }
        }
        node.append(...children);
        return node;
    }

    async function getJson(params) {
        const select = orgSelect();
        const url = new URL(select.dataset.describeUrl, window.location.href);
        url.searchParams.set("org", select.value);
        for (const [name, value] of Object.entries(params)) {
            url.searchParams.set(name, value);
        }
        const response = await fetch(url, {
            credentials: "same-origin",
            headers: {Accept: "application/json"},
        });
        let body = null;
        try {
            body = await response.json();
        } catch {
            body = null;
        }
        if (response.ok && body !== null) {
            return body;
        }
        if (response.redirected) {
            throw new Error("Your session has ended: reload the page and log in again.");
        }
        throw new Error((body && body.error) || `The server answered ${response.status}.`);
    }

    function setStatus(node, message, isError = false) {
        node.textContent = message;
        node.classList.toggle("dm-error", isError);
    }

    // The org select and its sObject datalist ----------------------------------------

    function orgStatus() {
        const select = orgSelect();
        let node = select.parentElement.querySelector(".dm-picker-status");
        if (!node) {
            node = element("span", {className: "dm-picker-status", role: "status"});
            select.after(node);
        }
        return node;
    }

    function datalist() {
        let node = document.getElementById(DATALIST_ID);
        if (!node) {
            node = element("datalist", {id: DATALIST_ID});
            document.body.append(node);
        }
        return node;
    }

    let sobjectsRequest = 0;

    async function loadSObjects() {
        const request = ++sobjectsRequest;
        datalist().replaceChildren();
        fieldCache = new Map();
        if (!orgSelect().value) {
            setStatus(orgStatus(), "");
            return;
        }
        setStatus(orgStatus(), "Loading sObjects…");
        try {
            const body = await getJson({});
            // A later change of org wins over an answer still on its way.
            if (request !== sobjectsRequest) {
                return;
            }
            const options = body.sobjects.map((item) => element("option", {value: item.name}, item.label));
            datalist().replaceChildren(...options);
            setStatus(orgStatus(), `${body.sobjects.length} sObjects in ${body.org.name}.`);
        } catch (error) {
            if (request === sobjectsRequest) {
                setStatus(orgStatus(), error.message, true);
            }
        }
    }

    // One template object's field picker --------------------------------------------

    function fieldsOf(sobject) {
        const key = `${orgSelect().value}:${sobject.toLowerCase()}`;
        if (!fieldCache.has(key)) {
            const promise = getJson({sobject}).then((body) => body.fields);
            promise.catch(() => fieldCache.delete(key));
            fieldCache.set(key, promise);
        }
        return fieldCache.get(key);
    }

    function readList(textarea) {
        const text = textarea.value.trim();
        if (!text) {
            return [];
        }
        try {
            const value = JSON.parse(text);
            return Array.isArray(value) ? value : null;
        } catch {
            return null;
        }
    }

    function writeList(textarea, names) {
        textarea.value = JSON.stringify(names);
        textarea.dispatchEvent(new Event("change", {bubbles: true}));
    }

    // Transforms: {"Email": "mask", "Title": {"prefix": "T-"}, ...} ----------------

    const TRANSFORMS = [
        ["keep", "Keep"],
        ["mask", "Mask"],
        ["empty", "Leave empty"],
        ["fixed", "Fixed value"],
        ["prefix", "Prefix"],
        ["suffix", "Suffix"],
    ];

    function readObject(textarea) {
        if (!textarea) {
            return null;
        }
        const text = textarea.value.trim();
        if (!text) {
            return {};
        }
        try {
            const value = JSON.parse(text);
            return value && typeof value === "object" && !Array.isArray(value) ? value : null;
        } catch {
            return null;
        }
    }

    function transformOf(transforms, name) {
        const key = Object.keys(transforms).find((item) => item.toLowerCase() === name.toLowerCase());
        const value = key === undefined ? "keep" : transforms[key];
        if (typeof value === "string") {
            return {kind: value, text: ""};
        }
        if (value && typeof value === "object") {
            for (const kind of ["fixed", "prefix", "suffix"]) {
                if (kind in value) {
                    return {kind, text: value[kind] === null ? "" : String(value[kind])};
                }
            }
        }
        return {kind: "keep", text: ""};
    }

    function withTransform(transforms, name, kind, text) {
        const result = {};
        for (const [key, value] of Object.entries(transforms)) {
            if (key.toLowerCase() !== name.toLowerCase()) {
                result[key] = value;
            }
        }
        if (kind === "mask" || kind === "empty") {
            result[name] = kind;
        } else if (kind !== "keep") {
            result[name] = {[kind]: text};
        }
        return result;
    }

    function writeObject(textarea, value) {
        textarea.value = Object.keys(value).length ? JSON.stringify(value) : "{}";
        textarea.dispatchEvent(new Event("change", {bubbles: true}));
    }

    function transformCell(field) {
        const select = element("select", {"data-role": "transform", "aria-label": `Transform of ${field.name}`});
        select.append(...TRANSFORMS.map(([value, label]) => element("option", {value}, label)));
        const text = element("input", {type: "text", "data-role": "transform-value", "aria-label": `Transform value of ${field.name}`, size: "10"});
        text.hidden = true;
        return element("td", {className: "dm-transform"}, select, text);
    }

    function withName(names, name, present) {
        const others = names.filter((item) => String(item).toLowerCase() !== name.toLowerCase());
        return present ? (others.length === names.length ? [...names, name] : names) : others;
    }

    function buildPicker(row, inputs) {
        const toggle = element("button", {type: "button", className: "button"}, "Pick fields");
        const status = element("span", {className: "dm-picker-status", role: "status"});
        const search = element("input", {type: "search", placeholder: "Filter by label, API name or type"});
        const addRequired = element("button", {type: "button", className: "button"}, "Add required fields");
        const tbody = element("tbody");
        const table = element(
            "table",
            {className: "dm-picker-table"},
            element(
                "thead",
                {},
                element(
                    "tr",
                    {},
                    element("th", {className: "dm-check"}, "Copy"),
                    element("th", {className: "dm-check"}, "Match key"),
                    ...(inputs.transformsInput ? [element("th", {}, "Transform")] : []),
                    element("th", {}, "Label"),
                    element("th", {}, "API name"),
                    element("th", {}, "Type"),
                ),
            ),
            tbody,
        );
        const panel = element(
            "div",
            {className: "dm-picker-panel"},
            element("div", {className: "dm-picker-tools"}, search, addRequired),
            element("div", {className: "dm-picker-scroll"}, table),
        );
        panel.hidden = true;
        const root = element("div", {className: "form-row dm-picker"}, element("div", {}, toggle, status, panel));
        const picker = {...inputs, root, toggle, status, search, addRequired, tbody, panel, fields: [], request: 0};
        toggle.addEventListener("click", () => (panel.hidden ? showFields(picker) : hideFields(picker)));
        search.addEventListener("input", () => applySearch(picker));
        addRequired.addEventListener("click", () => addRequiredFields(picker));
        tbody.addEventListener("change", (event) => onCheck(picker, event.target));
        tbody.addEventListener("change", (event) => onTransform(picker, event.target));
        tbody.addEventListener("input", (event) => onTransform(picker, event.target));
        if (inputs.transformsInput) {
            inputs.transformsInput.addEventListener("input", () => syncChecks(picker));
        }
        inputs.sobjectInput.addEventListener("change", () => panel.hidden || showFields(picker));
        inputs.fieldsInput.addEventListener("input", () => syncChecks(picker));
        inputs.matchInput.addEventListener("input", () => syncChecks(picker));
        return picker;
    }

    function hideFields(picker) {
        picker.panel.hidden = true;
        picker.toggle.textContent = "Pick fields";
        setStatus(picker.status, "");
    }

    async function showFields(picker) {
        const sobject = picker.sobjectInput.value.trim();
        const request = ++picker.request;
        const problem = !orgSelect().value
            ? "Choose a describe org under “Field pickers” first."
            : !sobject ? "Type or choose an sObject first." : "";
        if (problem) {
            // Also called for an open panel when the org or sObject changes: never leave
            // the previous sObject's fields on show, ticking them would add them here.
            hideFields(picker);
            setStatus(picker.status, problem, true);
            return;
        }
        setStatus(picker.status, `Loading the fields of ${sobject}…`);
        try {
            const fields = await fieldsOf(sobject);
            if (request !== picker.request) {
                return;
            }
            picker.fields = fields;
            renderFields(picker);
            picker.panel.hidden = false;
            picker.toggle.textContent = "Hide fields";
            const required = fields.filter((field) => field.required).length;
            setStatus(picker.status, `${fields.length} fields of ${sobject}; ${required} required on insert (*).`);
        } catch (error) {
            if (request === picker.request) {
                hideFields(picker);
                setStatus(picker.status, error.message, true);
            }
        }
    }

    function renderFields(picker) {
        const rows = picker.fields.map((field) => {
            const label = element("td", {}, field.label);
            if (field.required) {
                label.append(element("abbr", {className: "dm-required-mark", title: "Required on insert"}, "*"));
            }
            const type = field.reference_to.length ? `${field.type} → ${field.reference_to.join(", ")}` : field.type;
            const readOnly = !field.createable && !field.updateable;
            const row = element(
                "tr",
                {"data-name": field.name, className: readOnly ? "dm-readonly" : ""},
                element("td", {className: "dm-check"}, element("input", {type: "checkbox", "data-role": "copy", "aria-label": `Copy ${field.name}`})),
                element("td", {className: "dm-check"}, element("input", {type: "checkbox", "data-role": "key", "aria-label": `Match on ${field.name}`})),
                ...(picker.transformsInput ? [transformCell(field)] : []),
                label,
                element("td", {}, element("code", {}, field.name)),
                element("td", {}, readOnly ? `${type} (read-only)` : type),
            );
            row.dataset.search = `${field.label} ${field.name} ${type}`.toLowerCase();
            return row;
        });
        picker.tbody.replaceChildren(...rows);
        applySearch(picker);
        syncChecks(picker);
    }

    function applySearch(picker) {
        const query = picker.search.value.trim().toLowerCase();
        for (const row of picker.tbody.rows) {
            row.hidden = query !== "" && !row.dataset.search.includes(query);
        }
    }

    function syncChecks(picker) {
        const fields = readList(picker.fieldsInput);
        const matchKey = readList(picker.matchInput);
        const usable = fields !== null && matchKey !== null;
        const lower = (names) => new Set((names || []).map((name) => String(name).toLowerCase()));
        const copied = lower(fields);
        const keyed = lower(matchKey);
        const transforms = readObject(picker.transformsInput);
        for (const row of picker.tbody.rows) {
            const name = row.dataset.name.toLowerCase();
            for (const box of row.querySelectorAll("input[type=checkbox]")) {
                box.disabled = !usable;
                box.checked = (box.dataset.role === "copy" ? copied : keyed).has(name);
            }
            syncTransform(row, transforms, usable && copied.has(name));
        }
        if (!usable && !picker.panel.hidden) {
            setStatus(picker.status, "“Fields” and “Match key” must be JSON lists to use the picker.", true);
        }
    }

    function syncTransform(row, transforms, copied) {
        const select = row.querySelector("select[data-role=transform]");
        const text = row.querySelector("input[data-role=transform-value]");
        if (!select) {
            return;
        }
        const current = transforms === null ? {kind: "keep", text: ""} : transformOf(transforms, row.dataset.name);
        select.disabled = transforms === null || !copied;
        select.value = current.kind;
        text.hidden = !["fixed", "prefix", "suffix"].includes(current.kind);
        text.disabled = select.disabled;
        if (document.activeElement !== text) {
            text.value = current.text;
        }
    }

    function onTransform(picker, control) {
        if (!control.matches("select[data-role=transform], input[data-role=transform-value]")) {
            return;
        }
        const row = control.closest("tr");
        const transforms = readObject(picker.transformsInput);
        if (transforms === null) {
            setStatus(picker.status, "“Transforms” must be a JSON object to use the picker.", true);
            return;
        }
        const kind = row.querySelector("select[data-role=transform]").value;
        const text = row.querySelector("input[data-role=transform-value]").value;
        writeObject(picker.transformsInput, withTransform(transforms, row.dataset.name, kind, text));
        syncChecks(picker);
    }

    function onCheck(picker, box) {
        if (!box.matches("input[type=checkbox]")) {
            return;
        }
        const name = box.closest("tr").dataset.name;
        const fields = readList(picker.fieldsInput);
        const matchKey = readList(picker.matchInput);
        if (fields === null || matchKey === null) {
            syncChecks(picker);
            return;
        }
        // The match key must be among the copied fields: keep the two lists consistent.
        const has = (names) => names.some((item) => String(item).toLowerCase() === name.toLowerCase());
        let copy = has(fields);
        let key = has(matchKey);
        if (box.dataset.role === "copy") {
            copy = box.checked;
            key = key && copy;
        } else {
            key = box.checked;
            copy = copy || key;
        }
        writeList(picker.fieldsInput, withName(fields, name, copy));
        writeList(picker.matchInput, withName(matchKey, name, key));
        const transforms = readObject(picker.transformsInput);
        if (!copy && transforms) {
            // A transform of a field that is not copied would be refused on save.
            writeObject(picker.transformsInput, withTransform(transforms, name, "keep", ""));
        }
        syncChecks(picker);
    }

    function addRequiredFields(picker) {
        let fields = readList(picker.fieldsInput);
        if (fields === null) {
            syncChecks(picker);
            return;
        }
        for (const field of picker.fields.filter((item) => item.required)) {
            fields = withName(fields, field.name, true);
        }
        writeList(picker.fieldsInput, fields);
        syncChecks(picker);
    }

    // Wiring -------------------------------------------------------------------------

    function enhance(row) {
        if (pickers.has(row) || row.classList.contains("empty-form")) {
            return;
        }
        const sobjectInput = row.querySelector("input.dm-sobject-input");
        const fieldsInput = row.querySelector("textarea.dm-fields-input");
        const matchInput = row.querySelector("textarea.dm-match-key-input");
        const transformsInput = row.querySelector("textarea.dm-transforms-input");
        if (!sobjectInput || !fieldsInput || !matchInput) {
            return;
        }
        sobjectInput.setAttribute("list", DATALIST_ID);
        const picker = buildPicker(row, {sobjectInput, fieldsInput, matchInput, transformsInput});
        (matchInput.closest(".form-row") || matchInput.parentElement).after(picker.root);
        pickers.set(row, picker);
    }

    function allRows() {
        return document.querySelectorAll(".inline-related");
    }

    let started = false;

    document.addEventListener("DOMContentLoaded", () => {
        const select = orgSelect();
        if (started || !select || !select.dataset.describeUrl) {
            return;
        }
        started = true;
        allRows().forEach(enhance);
        document.addEventListener("formset:added", (event) => enhance(event.target));
        select.addEventListener("change", () => {
            loadSObjects();
            for (const row of allRows()) {
                const picker = pickers.get(row);
                if (picker && !picker.panel.hidden) {
                    showFields(picker);
                }
            }
        });
        loadSObjects();
    });
}
