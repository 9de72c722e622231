package server

import (
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// bearerToken reads "Authorization: Bearer TOKEN"; the scheme is
// case-insensitive (RFC 9110, section 11.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (h *handlers) requireToken(c *gin.Context) {
	client, now := c.ClientIP(), h.Now()
	if wait := h.authLimit.Wait(client, now); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(secs))
		c.Set("reason", "admin authentication throttled after repeated failures")
		c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": "too many failed admin authentications from this address; retry in " + strconv.Itoa(secs) + "s"})
		return
	}
	got, ok := bearerToken(c.GetHeader("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.AdminToken.Value())) != 1 {
		h.authLimit.Fail(client, now)
		c.Set("reason", "admin authentication failed")
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "admin API needs Authorization: Bearer <server.admin_token>"})
		return
	}
	c.Next()
}
